package accounts_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/api"
	"github.com/quai-dev/quai/internal/auth"
	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

func TestMain(m *testing.M) { daemontest.Main(m) }

// team is a real daemon with the remote API on a real TLS listener, the
// instance acme/shop-dev deployed with the process runtime, and users of
// every role and scope with real tokens.
type team struct {
	d      *daemontest.Daemon
	srv    *httptest.Server
	hc     *http.Client
	tokens map[string]string          // user → token secret
	users  map[string]*auth.Principal // user → what it should be (for expectations)
}

// roles × scopes of the matrix; a user is named ROLE-SCOPE.
var (
	matrixRoles  = []string{"admin", "member", "reader"}
	matrixScopes = map[string]string{"org": "acme", "project": "acme/shop", "env": "acme:dev", "otherenv": "acme:prod"}
)

func deployApp(t *testing.T, c *client.Client, org, project, env string) string {
	t.Helper()
	ctx := context.Background()
	m, err := stack.Load(ctx, stack.Options{Dir: daemontest.AppProject(t, daemontest.App{Project: project}), Env: env, Org: org})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := wire.NewModelPayload(m, m.Resolved)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Up(ctx, payload, client.UpOptions{}, nil); err != nil {
		t.Fatalf("up %s: %v", m.Identity.Name(), err)
	}
	return m.Identity.Name()
}

func startTeam(t *testing.T) *team {
	t.Helper()
	d := daemontest.Start(t, daemontest.Options{})
	srv := httptest.NewTLSServer(d.RemoteHandler())
	t.Cleanup(srv.Close)
	tm := &team{d: d, srv: srv, hc: srv.Client(), tokens: map[string]string{}, users: map[string]*auth.Principal{}}
	deployApp(t, d.Client, "acme", "shop", "dev")
	for _, role := range matrixRoles {
		for scope, path := range matrixScopes {
			tm.addUser(t, role+"-"+scope, role, path)
		}
	}
	tm.addUser(t, "other", "admin", "globex")
	tm.addUser(t, "none", "", "")
	tm.addUser(t, "root-remote", "admin", "*")
	return tm
}

func (tm *team) addUser(t *testing.T, name, role, path string) {
	t.Helper()
	ctx := context.Background()
	if _, err := tm.d.Client.AddUser(ctx, wire.UserRequest{Name: name, Password: "correct horse " + name, Role: role, Path: path}); err != nil {
		t.Fatalf("add user %s: %v", name, err)
	}
	tok, err := tm.d.Client.CreateToken(ctx, wire.TokenRequest{Name: "matrix", User: name})
	if err != nil {
		t.Fatal(err)
	}
	p := &auth.Principal{User: name}
	if role != "" {
		g, err := auth.ParsePath(path)
		if err != nil {
			t.Fatal(err)
		}
		g.Role, _ = auth.ParseRole(role)
		p.Grants = []auth.Grant{g}
	}
	tm.tokens[name], tm.users[name] = tok.Secret, p
}

// do sends a request over TLS with the user's token ("" = none).
func (tm *team) do(t *testing.T, user, method, path string, body any, hdr ...string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, tm.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+tm.tokens[user])
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := tm.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

const (
	target  = "acme/shop-dev"
	victim  = "reader-org" // the user acted upon by user routes
	ghostID = "nosuchthing"
)

// call is one request of the matrix for a route: what to send, and what
// it is about (for the expected decision).
type call struct {
	method, path string
	body         any
	hdr          []string
	// expect decides the outcome for p; nil: from the route's action and
	// the instance target, the organization acme or the host by reach.
	expect func(p *auth.Principal) auth.Decision
	// orgTarget: the call is about the organization acme as a whole.
	orgTarget bool
	// envTarget: about acme's dev environment (secrets).
	envTarget bool
}

func inst(rest string) string { return wire.Prefix + "/instances/" + url.PathEscape(target) + rest }

func modelOf(t *testing.T, tm *team) wire.ModelPayload {
	t.Helper()
	m, err := stack.Load(context.Background(), stack.Options{Dir: daemontest.AppProject(t, daemontest.App{Project: "shop"}), Env: "dev", Org: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := wire.NewModelPayload(m, m.Resolved)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// calls maps every route pattern to the call the matrix makes; a route
// missing here fails the test, so a new endpoint cannot ship untested.
func calls(t *testing.T, tm *team) map[string]call {
	mp := modelOf(t, tm)
	P := wire.Prefix
	self := func(*auth.Principal) auth.Decision { return auth.Allowed }
	userAdmin := func(p *auth.Principal) auth.Decision {
		switch {
		case p.HostAdmin() || p.Can("users", auth.Target{Org: "acme"}):
			return auth.Allowed
		case p.User == victim:
			return auth.Forbidden
		}
		return auth.Invisible
	}
	grantIn := func(p *auth.Principal) auth.Decision {
		if p.Can("users", auth.Target{Org: "acme"}) {
			return auth.Allowed
		}
		if p.SeesOrg("acme") {
			return auth.Forbidden
		}
		return auth.Invisible
	}
	uploadIn := func(p *auth.Principal) auth.Decision {
		switch r := p.BestRoleIn("acme"); {
		case r < auth.RoleReader:
			return auth.Invisible
		case r < auth.RoleMember || !p.ScopeAllows("upload"):
			return auth.Forbidden
		}
		return auth.Allowed
	}
	upload := P + wire.UploadsPath + "/" + strings.Repeat("ab", 32) + "?org=acme"
	return map[string]call{
		"HEAD " + P + wire.UploadsPath + "/{hash}":   {method: "HEAD", path: upload, expect: uploadIn},
		"PUT " + P + wire.UploadsPath + "/{hash}":    {method: "PUT", path: upload, body: struct{}{}, expect: uploadIn},
		"GET " + P + "/info":                         {method: "GET", path: P + "/info", expect: self},
		"POST " + P + "/plan":                        {method: "POST", path: P + "/plan", body: wire.PlanRequest{ModelPayload: mp}},
		"POST " + P + "/up":                          {method: "POST", path: P + "/up", body: wire.UpRequest{ModelPayload: mp}},
		"GET " + P + "/instances":                    {method: "GET", path: P + "/instances", expect: self},
		"GET " + P + "/events":                       {method: "GET", path: P + "/events?" + wire.EventsFor + "=10ms", expect: self},
		"GET " + P + "/instances/{name}":             {method: "GET", path: inst("")},
		"GET " + P + "/instances/{name}/status":      {method: "GET", path: inst("/status")},
		"DELETE " + P + "/instances/{name}":          {method: "DELETE", path: inst("")},
		"GET " + P + "/instances/{name}/releases":    {method: "GET", path: inst("/releases")},
		"POST " + P + "/instances/{name}/rollback":   {method: "POST", path: inst("/rollback"), body: wire.RollbackRequest{}},
		"POST " + P + "/instances/{name}/promote":    {method: "POST", path: inst("/promote"), body: wire.PromoteRequest{ModelPayload: mp, Source: target}},
		"POST " + P + "/instances/{name}/restart":    {method: "POST", path: inst("/restart"), body: wire.RestartRequest{}},
		"POST " + P + "/instances/{name}/down":       {method: "POST", path: inst("/down")},
		"POST " + P + "/instances/{name}/start":      {method: "POST", path: inst("/start")},
		"GET " + P + "/volumes":                      {method: "GET", path: P + "/volumes", expect: self},
		"DELETE " + P + "/volumes/{name}":            {method: "DELETE", path: P + "/volumes/" + url.PathEscape(target)},
		"GET " + P + "/instances/{name}/logs":        {method: "GET", path: inst("/logs?tail=5")},
		"POST " + P + "/instances/{name}/exec":       {method: "POST", path: inst("/exec?service=web&cmd=true"), hdr: []string{"Connection", "Upgrade", "Upgrade", wire.ExecUpgrade}},
		"POST " + P + "/prune":                       {method: "POST", path: P + "/prune", body: wire.PruneRequest{DryRun: true}},
		"GET " + P + "/secrets/keys":                 {method: "GET", path: P + "/secrets/keys?org=acme&env=dev", envTarget: true},
		"POST " + P + "/secrets/keys/export":         {method: "POST", path: P + "/secrets/keys/export", body: wire.SecretsExportRequest{Org: "acme", Env: "dev", Passphrase: "x"}, envTarget: true},
		"POST " + P + "/secrets/keys/import":         {method: "POST", path: P + "/secrets/keys/import", body: wire.SecretsImportRequest{Org: "acme", Env: "dev"}, expect: hostOnly},
		"POST " + P + "/secrets/keys/retire":         {method: "POST", path: P + "/secrets/keys/retire", body: wire.SecretsRetireRequest{Org: "acme", Env: "dev", Generation: 1}, envTarget: true},
		"POST " + P + "/secrets/file":                {method: "POST", path: P + "/secrets/file", body: wire.SecretsFileRequest{Org: "acme", Env: "dev", Set: map[string]string{"A": "b"}}, envTarget: true},
		"POST " + P + "/instances/{name}/backup":     {method: "POST", path: inst("/backup"), body: wire.BackupRequest{}},
		"POST " + P + "/instances/{name}/restore":    {method: "POST", path: inst("/restore"), body: wire.RestoreRequest{Snapshot: "abc"}},
		"POST " + P + "/instances/{name}/drill":      {method: "POST", path: inst("/drill")},
		"POST " + P + "/clone":                       {method: "POST", path: P + "/clone", body: wire.CloneRequest{ModelPayload: mp, Snapshots: []string{"abc"}}},
		"GET " + P + "/backups":                      {method: "GET", path: P + "/backups", expect: self},
		"POST " + P + "/backups/verify":              {method: "POST", path: P + "/backups/verify", body: wire.VerifyRequest{Instance: target}},
		"POST " + P + "/backups/prune":               {method: "POST", path: P + "/backups/prune", body: wire.BackupPruneRequest{Instance: target, DryRun: true}},
		"POST " + P + "/backups/forget":              {method: "POST", path: P + "/backups/forget", body: wire.BackupForgetRequest{Instance: target}},
		"POST " + P + "/backups/system":              {method: "POST", path: P + "/backups/system", body: struct{}{}},
		"GET " + P + "/backups/targets/{org}":        {method: "GET", path: P + "/backups/targets/acme", orgTarget: true},
		"PUT " + P + "/backups/targets/{org}":        {method: "PUT", path: P + "/backups/targets/acme", body: wire.BackupTarget{URL: "file:///nonexistent"}, orgTarget: true},
		"GET " + P + "/backups/keys/{org}":           {method: "GET", path: P + "/backups/keys/acme", orgTarget: true},
		"PUT " + P + "/backups/keys/{org}":           {method: "PUT", path: P + "/backups/keys/acme", body: wire.BackupKeyImport{Password: "x"}, orgTarget: true},
		"GET " + P + "/metrics/top":                  {method: "GET", path: P + "/metrics/top", expect: self},
		"GET " + P + "/metrics/series":               {method: "GET", path: P + "/metrics/series?instance=" + url.QueryEscape(target)},
		"GET " + P + "/alerts":                       {method: "GET", path: P + "/alerts", expect: self},
		"POST " + P + "/alerts/silences":             {method: "POST", path: P + "/alerts/silences", body: wire.SilenceRequest{Instance: target, For: time.Minute}},
		"DELETE " + P + "/alerts/silences/{id}":      {method: "DELETE", path: P + "/alerts/silences/" + ghostID, expect: func(p *auth.Principal) auth.Decision { return auth.Invisible }},
		"GET " + P + "/alerts/channels":              {method: "GET", path: P + "/alerts/channels"},
		"POST " + P + "/alerts/channels":             {method: "POST", path: P + "/alerts/channels", body: wire.ChannelRequest{Name: "x", URL: "https://example.invalid/x"}},
		"DELETE " + P + "/alerts/channels/{name}":    {method: "DELETE", path: P + "/alerts/channels/x"},
		"POST " + P + "/alerts/channels/{name}/test": {method: "POST", path: P + "/alerts/channels/x/test", body: struct{}{}},
		"POST " + P + "/login":                       {method: "POST", path: P + "/login", body: wire.LoginRequest{User: "nobody", Password: "wrong password"}, expect: func(*auth.Principal) auth.Decision { return auth.Forbidden }},
		"GET " + P + "/whoami":                       {method: "GET", path: P + "/whoami", expect: self},
		"GET " + P + "/users":                        {method: "GET", path: P + "/users", expect: self},
		"POST " + P + "/users":                       {method: "POST", path: P + "/users", body: wire.UserRequest{Name: "newbie", Password: "long enough", Role: "reader", Path: "acme"}, expect: grantIn},
		"DELETE " + P + "/users/{user}":              {method: "DELETE", path: P + "/users/" + victim, expect: userAdmin},
		"POST " + P + "/users/{user}/password": {method: "POST", path: P + "/users/" + victim + "/password", body: wire.PasswordRequest{Password: "a new password"}, expect: func(p *auth.Principal) auth.Decision {
			if p.User == victim {
				return auth.Allowed
			}
			return userAdmin(p)
		}},
		"POST " + P + "/users/{user}/grants":   {method: "POST", path: P + "/users/" + victim + "/grants", body: wire.GrantRequest{Role: "member", Path: "acme"}, expect: grantIn},
		"DELETE " + P + "/users/{user}/grants": {method: "DELETE", path: P + "/users/" + victim + "/grants", body: wire.GrantRequest{Path: "acme"}, expect: grantIn},
		"GET " + P + "/tokens":                 {method: "GET", path: P + "/tokens", expect: self},
		"POST " + P + "/tokens":                {method: "POST", path: P + "/tokens", body: wire.TokenRequest{Name: "extra"}, expect: self},
		"DELETE " + P + "/tokens/{id}":         {method: "DELETE", path: P + "/tokens/" + ghostID, expect: func(*auth.Principal) auth.Decision { return auth.Invisible }},
		"GET " + P + "/orgs":                   {method: "GET", path: P + "/orgs", expect: self},
		"POST " + P + "/orgs":                  {method: "POST", path: P + "/orgs", body: wire.Org{Name: "initech"}},
		"GET " + P + "/audit":                  {method: "GET", path: P + "/audit?org=acme", orgTarget: true},
		"GET " + P + "/hooks":                  {method: "GET", path: P + "/hooks", expect: self},
		"POST " + P + "/hooks":                 {method: "POST", path: P + "/hooks", body: wire.HookRequest{Instance: target, Action: "deploy"}},
		"DELETE " + P + "/hooks/{id}":          {method: "DELETE", path: P + "/hooks/" + ghostID, expect: func(*auth.Principal) auth.Decision { return auth.Invisible }},
		"POST " + P + "/hooks/{id}":            {method: "POST", path: P + "/hooks/" + ghostID, body: wire.HookCall{Timestamp: time.Now().Unix()}, expect: func(*auth.Principal) auth.Decision { return auth.Forbidden }},
	}
}

func hostOnly(p *auth.Principal) auth.Decision {
	if p.HostAdmin() {
		return auth.Allowed
	}
	return auth.Forbidden
}

// expected is the decision the policy makes for p on c.
func expected(p *auth.Principal, r api.Route, c call) auth.Decision {
	if c.expect != nil {
		return c.expect(p)
	}
	rule, _ := auth.RuleOf(r.Action)
	switch {
	case rule.Reach == auth.ReachHost:
		return hostOnly(p)
	case c.orgTarget:
		return p.Decide(r.Action, auth.Target{Org: "acme"})
	case c.envTarget:
		return p.Decide(r.Action, auth.Target{Org: "acme", Env: "dev"})
	}
	return p.Decide(r.Action, auth.Target{Org: "acme", Project: "shop", Env: "dev"})
}

// TestEndpointRoleMatrix walks every registered endpoint × role (admin,
// member, reader, another organization's admin, no grant, admin of every
// organization) × scope (organization-wide, project-narrowed,
// env-narrowed, narrowed to another env) through RemoteHandler on a real
// TLS listener with real tokens. Denied calls must answer 404 exactly as
// for a missing instance when the caller cannot see the target and 403
// when it can; allowed reads must succeed. Allowed changes are not made
// (they would destroy the fixture); the hook, token deploy and stream
// tests make real ones.
func TestEndpointRoleMatrix(t *testing.T) {
	tm := startTeam(t)
	routes := api.New(api.Options{}).Routes()
	cs := calls(t, tm)
	for _, r := range routes {
		if _, ok := cs[r.Pattern]; !ok {
			t.Errorf("route %s (action %s) has no call in the matrix: add one to calls()", r.Pattern, r.Action)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	// The 404 an invisible instance answers is that of a missing one.
	_, missing := tm.do(t, "none", "GET", wire.Prefix+"/instances/"+url.PathEscape(target), nil)
	var users []string
	for u := range tm.users {
		users = append(users, u)
	}
	ran, skipped := 0, 0
	for _, r := range routes {
		c := cs[r.Pattern]
		rule, _ := auth.RuleOf(r.Action)
		for _, u := range users {
			p := tm.users[u]
			want := expected(p, r, c)
			if want == auth.Allowed && (rule.Mutates || c.method != "GET") {
				skipped++
				continue
			}
			ran++
			status, body := tm.do(t, u, c.method, c.path, c.body, c.hdr...)
			var eb wire.ErrorBody
			_ = json.Unmarshal(body, &eb)
			name := fmt.Sprintf("%s as %s", r.Pattern, u)
			switch want {
			case auth.Allowed:
				if status == http.StatusUnauthorized || status == http.StatusForbidden || (status == http.StatusNotFound && eb.Error.Code == wire.CodeNotFound) {
					t.Errorf("%s: %d %s, want it allowed", name, status, body)
				}
				if p.User == "other" && bytes.Contains(body, []byte("acme")) {
					t.Errorf("%s: another organization's admin sees acme: %s", name, body)
				}
			case auth.Forbidden:
				// The login and hook calls have no token to forbid: a wrong
				// password and an unknown hook are 401 (429 once throttled).
				if r.Action == "login" || r.Action == "hook" {
					if status != http.StatusUnauthorized && status != http.StatusTooManyRequests {
						t.Errorf("%s: %d %s, want 401 or 429", name, status, body)
					}
					continue
				}
				// A HEAD answer has no body to carry the code.
				if status != http.StatusForbidden || (c.method != http.MethodHead && eb.Error.Code != wire.CodeForbidden) {
					t.Errorf("%s: %d %s, want 403", name, status, body)
				}
			case auth.Invisible:
				if status != http.StatusNotFound || (c.method != http.MethodHead && eb.Error.Code != wire.CodeNotFound) {
					t.Errorf("%s: %d %s, want 404", name, status, body)
				}
				if strings.Contains(c.path, url.PathEscape(target)) && strings.HasPrefix(c.path, wire.Prefix+"/instances/") && !bytes.Equal(body, missing) {
					t.Errorf("%s: the 404 differs from a missing instance's:\n got %s\nwant %s", name, body, missing)
				}
			}
		}
	}
	t.Logf("%d routes × %d users: %d calls made, %d allowed changes not made", len(routes), len(users), ran, skipped)
	if ran < len(routes)*len(users)/2 {
		t.Errorf("only %d calls made", ran)
	}
}

// TestUnauthenticated: without a token, or with a bad one, every endpoint
// but login and hooks answers 401.
func TestUnauthenticated(t *testing.T) {
	tm := startTeam(t)
	cs := calls(t, tm)
	for pattern, c := range cs {
		if c.path == wire.Prefix+"/login" || strings.HasPrefix(c.path, wire.Prefix+"/hooks/") && c.method == "POST" {
			continue
		}
		for _, tok := range []string{"", "quai_pat_" + strings.Repeat("0", 43), "garbage"} {
			tm.tokens["anon"] = tok
			status, body := tm.do(t, "anon", c.method, c.path, c.body, c.hdr...)
			if status != http.StatusUnauthorized {
				t.Errorf("%s with token %q: %d %s, want 401", pattern, tok, status, body)
			}
		}
	}
}

// TestCrossOrgProbes: whatever another organization's user guesses (names
// of existing instances, IDs, encoded paths), the answers are those for
// things that do not exist, byte for byte, before and after the instance
// exists.
func TestCrossOrgProbes(t *testing.T) {
	tm := startTeam(t)
	probes := []string{
		"/instances/" + url.PathEscape("globex/shop-dev"),
		"/instances/" + url.PathEscape("globex/shop-dev") + "/status",
		"/instances/" + url.PathEscape("globex/shop-dev") + "/logs",
		"/instances/" + url.PathEscape("globex/shop-dev") + "/releases",
		"/instances/globex%2Fshop-dev",
		"/instances/globex%2fshop-dev",
		"/instances/GLOBEX%2Fshop-dev",
		"/instances/globex%252Fshop-dev",
		"/metrics/series?instance=globex%2Fshop-dev",
		"/volumes?instance=globex%2Fshop-dev",
		"/backups?instance=globex%2Fshop-dev",
		"/backups?org=globex",
		"/backups/targets/globex",
		"/backups/keys/globex",
		"/secrets/keys?org=globex&env=dev",
		"/audit?org=globex",
	}
	probe := func() map[string]string {
		out := map[string]string{}
		for _, p := range probes {
			status, body := tm.do(t, "admin-org", "GET", wire.Prefix+p, nil)
			out[p] = fmt.Sprintf("%d %s", status, body)
		}
		return out
	}
	before := probe()
	// globex's instance now exists, with a user of its own.
	deployApp(t, tm.d.Client, "globex", "shop", "dev")
	after := probe()
	for _, p := range probes {
		if before[p] != after[p] {
			t.Errorf("probe %s tells that globex/shop-dev exists:\nbefore %s\nafter  %s", p, before[p], after[p])
		}
		if !strings.HasPrefix(after[p], "404 ") {
			t.Errorf("probe %s: %s, want 404", p, after[p])
		}
	}
	// Lists leave it out, and suggestions never name it.
	_, list := tm.do(t, "admin-org", "GET", wire.Prefix+"/instances", nil)
	_, miss := tm.do(t, "admin-org", "GET", wire.Prefix+"/instances/"+url.PathEscape("globex/shop-de"), nil)
	for _, b := range [][]byte{list, miss} {
		if bytes.Contains(b, []byte("globex")) && !bytes.Contains(b, []byte(`"globex/shop-de\"`)) {
			t.Errorf("globex's instance leaks: %s", b)
		}
	}
	if bytes.Contains(miss, []byte("did you mean")) {
		t.Errorf("a guess suggests an invisible instance: %s", miss)
	}
	// The globex admin sees its own, with suggestions from its own only.
	_, own := tm.do(t, "other", "GET", wire.Prefix+"/instances/"+url.PathEscape("globex/shop-de"), nil)
	if !bytes.Contains(own, []byte("globex/shop-dev")) || bytes.Contains(own, []byte("acme")) {
		t.Errorf("globex admin's suggestion: %s", own)
	}
	// The socket still sees everything.
	ctx := context.Background()
	all, err := tm.d.Client.Instances(ctx)
	if err != nil || len(all) != 2 {
		t.Errorf("socket ls: %v %v", all, err)
	}
}

// TestStreamEndsOnRevocationAndExpiry follows an instance's logs over TLS
// and revokes the token (then, with another token, lets it expire): the
// open stream ends both times.
func TestStreamEndsOnRevocationAndExpiry(t *testing.T) {
	tm := startTeam(t)
	ctx := context.Background()
	follow := func(secret string) (io.ReadCloser, error) {
		req, _ := http.NewRequest("GET", tm.srv.URL+inst("/logs?follow=true"), nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := tm.hc.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			return nil, fmt.Errorf("%d %s", resp.StatusCode, b)
		}
		return resp.Body, nil
	}
	ended := func(body io.ReadCloser) chan error {
		done := make(chan error, 1)
		go func() {
			_, err := io.Copy(io.Discard, body)
			done <- err
		}()
		return done
	}

	tok, err := tm.d.Client.CreateToken(ctx, wire.TokenRequest{Name: "follow", User: "reader-org"})
	if err != nil {
		t.Fatal(err)
	}
	body, err := follow(tok.Secret)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = body.Close() }()
	done := ended(body)
	select {
	case err := <-done:
		t.Fatalf("the stream ended before the revocation: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tm.d.Client.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Logf("the stream ended on revocation: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the logs stream is still open after its token was revoked")
	}
	if _, err := follow(tok.Secret); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("revoked token: %v, want 401", err)
	}

	// A token that expires while its stream is open.
	short, err := tm.d.Client.CreateToken(ctx, wire.TokenRequest{Name: "short", User: "reader-org", TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	body2, err := follow(short.Secret)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = body2.Close() }()
	select {
	case err := <-ended(body2):
		t.Logf("the stream ended on expiry: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the logs stream is still open after its token expired")
	}
	if _, err := follow(short.Secret); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("expired token: %v, want 401", err)
	}
}

// TestLoginThrottled: wrong passwords make the user (and the address)
// wait, doubling each time; during the wait even the right password is
// refused with 429, and an unknown user is answered as a wrong password.
func TestLoginThrottled(t *testing.T) {
	tm := startTeam(t)
	login := func(user, pw string) (int, []byte) {
		return tm.do(t, "", "POST", wire.Prefix+"/login", wire.LoginRequest{User: user, Password: pw})
	}
	status, body := login("reader-org", "correct horse reader-org")
	if status != 200 {
		t.Fatalf("login: %d %s", status, body)
	}
	var lr wire.LoginResponse
	if err := json.Unmarshal(body, &lr); err != nil || !auth.LooksLikeToken(lr.Token) {
		t.Fatalf("login answer %s: %v", body, err)
	}
	tm.tokens["session"] = lr.Token
	if status, body := tm.do(t, "session", "GET", wire.Prefix+"/whoami", nil); status != 200 || !bytes.Contains(body, []byte("reader acme")) {
		t.Errorf("whoami with the session: %d %s", status, body)
	}
	s1, b1 := login("ghost", "whatever pw")
	if s1 != http.StatusUnauthorized && s1 != http.StatusTooManyRequests {
		t.Errorf("unknown user: %d %s", s1, b1)
	}
	var throttled bool
	for i := 0; i < 4 && !throttled; i++ {
		s, b := login("member-org", "wrong password")
		switch s {
		case http.StatusTooManyRequests:
			throttled = true
		case http.StatusUnauthorized:
		default:
			t.Fatalf("wrong password: %d %s", s, b)
		}
	}
	if !throttled {
		t.Fatal("repeated wrong passwords were never throttled")
	}
	if s, b := login("member-org", "correct horse member-org"); s != http.StatusTooManyRequests {
		t.Errorf("right password while throttled: %d %s, want 429", s, b)
	}
}

// TestAuditEveryChange: each changing verb, made remotely, leaves an entry
// naming the user, the token, the address, the target and the result; an
// org admin reads its org's entries only; nothing edits the log.
func TestAuditEveryChange(t *testing.T) {
	tm := startTeam(t)
	ctx := context.Background()
	// Changes by an acme member and admin, over TLS.
	if s, b := tm.do(t, "member-org", "POST", inst("/restart"), wire.RestartRequest{}); s != 200 {
		t.Fatalf("restart: %d %s", s, b)
	}
	if s, b := tm.do(t, "member-org", "POST", wire.Prefix+"/alerts/silences", wire.SilenceRequest{Instance: target, For: time.Minute}); s != 200 {
		t.Fatalf("silence: %d %s", s, b)
	}
	if s, b := tm.do(t, "admin-org", "POST", wire.Prefix+"/users/"+victim+"/grants", wire.GrantRequest{Role: "member", Path: "acme:dev"}); s != 200 {
		t.Fatalf("grant: %d %s", s, b)
	}
	if s, b := tm.do(t, "member-org", "POST", wire.Prefix+"/tokens", wire.TokenRequest{Name: "mine"}); s != 200 {
		t.Fatalf("token: %d %s", s, b)
	}
	// A refused one is recorded too.
	if s, _ := tm.do(t, "reader-project", "POST", inst("/restart"), wire.RestartRequest{}); s != 403 {
		t.Fatalf("reader restart: %d", s)
	}
	// globex's admin changes something of its own.
	if s, b := tm.do(t, "other", "POST", wire.Prefix+"/tokens", wire.TokenRequest{Name: "globex-ci"}); s != 200 {
		t.Fatalf("token: %d %s", s, b)
	}
	list, err := tm.d.Client.Audit(ctx, client.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	find := func(user, action string, status int, target string) *wire.AuditEntry {
		for i, e := range list {
			if e.User == user && e.Action == action && e.Status == status && (target == "" || e.Target == target) {
				return &list[i]
			}
		}
		return nil
	}
	for _, w := range []struct {
		user, action string
		status       int
		target       string
	}{
		{"member-org", "restart", 200, target},
		{"member-org", "silence", 200, target},
		{"admin-org", "users", 200, "user " + victim},
		{"member-org", "tokens", 200, "token mine of member-org"},
		{"reader-project", "restart", 403, target},
		{"root (socket)", "users", 200, "user none"},
	} {
		e := find(w.user, w.action, w.status, w.target)
		if e == nil {
			t.Errorf("no audit entry for %s %s (%d) in %+v", w.user, w.action, w.status, list)
			continue
		}
		if e.Target != w.target || e.Source == "" || (w.user != "root (socket)" && e.Token != "matrix") {
			t.Errorf("audit entry %+v: want target %q, a source and token matrix", e, w.target)
		}
	}
	if e := find("member-org", "restart", 200, ""); e != nil && e.Result != "done" {
		t.Errorf("restart entry result %q, want done", e.Result)
	}
	// acme's admin reads acme's entries, not globex's; a member reads none.
	status, body := tm.do(t, "admin-org", "GET", wire.Prefix+"/audit", nil)
	if status != 200 || bytes.Contains(body, []byte("globex-ci")) || !bytes.Contains(body, []byte(`"restart"`)) {
		t.Errorf("acme admin's audit: %d %s", status, body)
	}
	if status, body := tm.do(t, "member-org", "GET", wire.Prefix+"/audit", nil); status != 403 {
		t.Errorf("member's audit: %d %s", status, body)
	}
	// No endpoint edits or deletes the log.
	for _, m := range []string{"DELETE", "PUT", "POST", "PATCH"} {
		if status, _ := tm.do(t, "root-remote", m, wire.Prefix+"/audit", nil); status != 404 && status != 405 {
			t.Errorf("%s /audit: %d, want 404 or 405", m, status)
		}
	}
}
