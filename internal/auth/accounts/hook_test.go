package accounts_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/auth/accounts"
	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/upload"
	"github.com/quai-dev/quai/internal/wire"
)

func (tm *team) hookCall(t *testing.T, id, secret string, call wire.HookCall, sig string) (int, []byte) {
	t.Helper()
	body, err := json.Marshal(call)
	if err != nil {
		t.Fatal(err)
	}
	if sig == "" {
		sig = accounts.Sign(secret, body)
	}
	req, _ := http.NewRequest("POST", tm.srv.URL+wire.Prefix+"/hooks/"+id, bytes.NewReader(body))
	req.Header.Set(wire.HookSignature, sig)
	resp, err := tm.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}

// TestDeployHook: a CI hook call with a bad signature, an old timestamp or
// a replayed body is refused; a good one deploys the new image as a new
// release of the instance (process runtime, real replicas); too many calls
// are throttled.
func TestDeployHook(t *testing.T) {
	tm := startTeam(t)
	ctx := context.Background()
	// A member makes the hook remotely; a reader may not.
	if s, b := tm.do(t, "reader-org", "POST", wire.Prefix+"/hooks", wire.HookRequest{Instance: target}); s != 403 {
		t.Fatalf("reader creates a hook: %d %s", s, b)
	}
	if s, b := tm.do(t, "other", "POST", wire.Prefix+"/hooks", wire.HookRequest{Instance: target}); s != 404 {
		t.Fatalf("globex admin creates a hook on acme: %d %s", s, b)
	}
	s, b := tm.do(t, "member-env", "POST", wire.Prefix+"/hooks", wire.HookRequest{Instance: target})
	if s != 200 {
		t.Fatalf("create hook: %d %s", s, b)
	}
	var h wire.HookCreated
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	good := wire.HookCall{Timestamp: now, Images: map[string]string{"web": "quai-test-app:v2"}}
	if s, b := tm.hookCall(t, h.ID, h.Secret, good, "sha256="+strings.Repeat("0", 64)); s != http.StatusUnauthorized {
		t.Errorf("bad signature: %d %s, want 401", s, b)
	}
	if s, b := tm.hookCall(t, h.ID, "not the secret", good, ""); s != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d %s, want 401", s, b)
	}
	old := good
	old.Timestamp = now - 600
	if s, b := tm.hookCall(t, h.ID, h.Secret, old, ""); s != http.StatusUnauthorized {
		t.Errorf("old timestamp: %d %s, want 401", s, b)
	}
	s, b = tm.hookCall(t, h.ID, h.Secret, good, "")
	if s != 200 {
		t.Fatalf("good call: %d %s", s, b)
	}
	var res wire.HookResult
	if err := json.Unmarshal(b, &res); err != nil || res.Release != 2 || res.Status != "active" {
		t.Fatalf("hook result %s: %v, want release 2 active", b, err)
	}
	rels, err := tm.d.Client.Releases(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	if rels[0].Number != 2 || rels[0].Cause != "hook "+h.ID {
		t.Errorf("newest release %+v, want 2 caused by the hook", rels[0])
	}
	st, err := tm.d.Client.Status(ctx, target)
	// The process runtime runs a command, not the image: the new release
	// keeps its replicas; Docker and Kubernetes replace them.
	if err != nil || st.Release != 2 || st.State != "running" {
		t.Errorf("status after the hook: %+v %v", st, err)
	}
	t.Logf("release 2 images: %v", rels[0].Images)
	if s, b := tm.hookCall(t, h.ID, h.Secret, good, ""); s != http.StatusUnauthorized || !bytes.Contains(b, []byte("replay")) {
		t.Errorf("replayed call: %d %s, want 401 replay", s, b)
	}
	// The audit log names the hook.
	list, err := tm.d.Client.Audit(ctx, clientQuery())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range list {
		if e.User == "hook "+h.ID && e.Status == 200 && e.Target == target && strings.HasPrefix(e.Result, "release 2") {
			found = true
		}
	}
	if !found {
		t.Errorf("no audit entry for the hook's deploy in %+v", list)
	}
	// Rate limit: a burst of calls is throttled.
	throttled := false
	for i := 0; i < 10 && !throttled; i++ {
		s, _ := tm.hookCall(t, h.ID, h.Secret, wire.HookCall{Timestamp: time.Now().Unix()}, "sha256=00")
		throttled = s == http.StatusTooManyRequests
	}
	if !throttled {
		t.Error("a burst of hook calls was never throttled")
	}
}

// TestDeployToken: a token narrowed to one instance and the deploy group
// runs `up` of that instance over TLS and nothing else.
func TestDeployToken(t *testing.T) {
	tm := startTeam(t)
	ctx := context.Background()
	tc, err := tm.d.Client.CreateToken(ctx, wire.TokenRequest{Name: "ci", User: "member-org", Instance: target, Actions: []string{"deploy"}})
	if err != nil {
		t.Fatal(err)
	}
	tm.tokens["ci"] = tc.Secret
	dir := daemontest.AppProject(t, daemontest.App{Project: "shop", Version: "2"})
	m, err := stack.Load(ctx, stack.Options{Dir: dir, Env: "dev", Org: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	mp, err := wire.NewModelPayload(m, m.Resolved)
	if err != nil {
		t.Fatal(err)
	}
	// Over the network the project folder travels as an upload, which the
	// deploy scope may make.
	var tgz bytes.Buffer
	zw := gzip.NewWriter(&tgz)
	sum, err := upload.Pack(dir, zw, upload.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("PUT", tm.srv.URL+wire.Prefix+wire.UploadsPath+"/"+sum.Hash+"?org=acme", &tgz)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tc.Secret)
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := tm.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upload with the deploy token: %s", resp.Status)
	}
	mp.Upload = sum.Hash
	s, b := tm.do(t, "ci", "POST", wire.Prefix+"/up", wire.UpRequest{ModelPayload: mp})
	if s != 200 || !bytes.Contains(b, []byte(`"kind":"done"`)) {
		t.Fatalf("up with the deploy token: %d %s", s, b)
	}
	if s, b := tm.do(t, "ci", "POST", inst("/restart"), wire.RestartRequest{}); s != 403 {
		t.Errorf("restart with a deploy token: %d %s, want 403", s, b)
	}
	if s, b := tm.do(t, "ci", "GET", wire.Prefix+"/users", nil); s != 403 {
		t.Errorf("users with a deploy token: %d %s, want 403", s, b)
	}
	// Another instance of the same organization is out of its scope.
	prod, err := stack.Load(ctx, stack.Options{Dir: daemontest.AppProject(t, daemontest.App{Project: "shop"}), Env: "prod", Org: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	pp, _ := wire.NewModelPayload(prod, prod.Resolved)
	if s, b := tm.do(t, "ci", "POST", wire.Prefix+"/up", wire.UpRequest{ModelPayload: pp}); s != 404 {
		t.Errorf("up of acme/shop-prod with a token for %s: %d %s, want 404", target, s, b)
	}
	// A token made with it is no wider.
	s, b = tm.do(t, "ci", "POST", wire.Prefix+"/tokens", wire.TokenRequest{Name: "wider"})
	if s != 403 {
		t.Errorf("a deploy token makes a token: %d %s, want 403", s, b)
	}
}

func clientQuery() client.AuditQuery { return client.AuditQuery{} }

// TestPromoteHookRefusedByPromotionRules: a promote hook whose promotion
// the target's x-quai.promotion forbids (prod takes releases from staging
// only; the hook promotes from dev) is refused with the rule that says no
// and how to satisfy it; the target keeps its releases; the refusal is in
// the audit log under the hook's name.
func TestPromoteHookRefusedByPromotionRules(t *testing.T) {
	tm := startTeam(t)
	ctx := context.Background()
	dir := daemontest.AppProject(t, daemontest.App{Project: "shop"})
	if err := os.MkdirAll(filepath.Join(dir, "envs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "envs", "prod.yaml"), []byte("x-quai:\n  promotion:\n    from: [staging]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := stack.Load(ctx, stack.Options{Dir: dir, Env: "prod", Org: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Promotion == nil || len(m.Promotion.From) != 1 {
		t.Fatalf("prod's promotion rules: %+v", m.Promotion)
	}
	payload, err := wire.NewModelPayload(m, m.Resolved)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tm.d.Client.Up(ctx, payload, client.UpOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	prod := m.Identity.Name()
	before, err := tm.d.Client.Releases(ctx, prod)
	if err != nil {
		t.Fatal(err)
	}

	s, b := tm.do(t, "admin-org", "POST", wire.Prefix+"/hooks", wire.HookRequest{Instance: prod, Action: "promote", Source: target})
	if s != 200 {
		t.Fatalf("create the promote hook: %d %s", s, b)
	}
	var h wire.HookCreated
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	s, b = tm.hookCall(t, h.ID, h.Secret, wire.HookCall{Timestamp: time.Now().Unix()}, "")
	var e wire.ErrorBody
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("hook call answered %d %s", s, b)
	}
	if s != http.StatusPreconditionFailed || e.Error.Code != wire.CodeRefused ||
		!strings.Contains(e.Error.Message, "from (") || !strings.Contains(e.Error.Message, "only from staging, not from dev") {
		t.Fatalf("promote hook against the rules: %d %+v; want 412 refused naming the from rule", s, e.Error)
	}
	after, err := tm.d.Client.Releases(ctx, prod)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) || after[0].Number != before[0].Number || after[0].Status != before[0].Status {
		t.Errorf("releases of %s after a refused promotion: %+v; want them as before: %+v", prod, after, before)
	}
	st, err := tm.d.Client.Status(ctx, prod)
	if err != nil || st.Release != before[0].Number || st.State != wire.InstanceRunning {
		t.Errorf("status of %s after a refused promotion: %+v %v; want release %d running", prod, st, err, before[0].Number)
	}
	list, err := tm.d.Client.Audit(ctx, clientQuery())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range list {
		if a.User == "hook "+h.ID && a.Target == prod && a.Status == http.StatusPreconditionFailed && strings.Contains(a.Result, "refused") {
			found = true
		}
	}
	if !found {
		t.Errorf("no audit entry for the refused hook call in %+v", list)
	}
}

// TestInfoShowsHostPathsToHostAdminsOnly: the daemon's data directory,
// socket and pid are for root and admins of every organization; an
// organization's admin and a reader see the version and the API's address.
func TestInfoShowsHostPathsToHostAdminsOnly(t *testing.T) {
	tm := startTeam(t)
	for _, c := range []struct {
		user  string
		paths bool
	}{{"reader-org", false}, {"admin-org", false}, {"root-remote", true}} {
		s, b := tm.do(t, c.user, "GET", wire.Prefix+"/info", nil)
		var info wire.Info
		if err := json.Unmarshal(b, &info); s != 200 || err != nil {
			t.Fatalf("%s: info %d %s", c.user, s, b)
		}
		if got := info.DataDir != "" && info.Socket != "" && info.PID != 0; got != c.paths || info.Version == "" {
			t.Errorf("%s: info %+v; want the host's paths shown: %v", c.user, info, c.paths)
		}
		if !c.paths && (strings.Contains(string(b), tm.d.DataDir) || info.Warnings != nil) {
			t.Errorf("%s: info names the data directory or the start warnings: %s", c.user, b)
		}
	}
}
