package accounts_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/upload"
	"github.com/quai-dev/quai/internal/wire"
)

// upload sends the project folder dir to the daemon as user, as a remote
// client does before a request that carries a model, and returns its hash.
func (tm *team) upload(t *testing.T, user, dir, org string) string {
	t.Helper()
	p, err := upload.PackTemp(dir, upload.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	req, err := http.NewRequest("PUT", tm.srv.URL+wire.Prefix+wire.UploadsPath+"/"+p.Hash+"?org="+org, p.File)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = p.Size
	req.Header.Set("Authorization", "Bearer "+tm.tokens[user])
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := tm.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upload as %s: %s", user, resp.Status)
	}
	return p.Hash
}

// TestPromoteIntoNewEnvironment: a promotion over the network may create
// its target. It is authorized on the identity of the stack it carries,
// not looked up by the name in the path (which answered 404 for an
// instance to be): a member of the organization promotes dev into a new
// staging; a member of dev only, and another organization's admin, get
// the same 404 as for any instance they cannot see, and nothing is made.
func TestPromoteIntoNewEnvironment(t *testing.T) {
	tm := startTeam(t)
	ctx := context.Background()
	dir := daemontest.AppProject(t, daemontest.App{Project: "shop"})
	m, err := stack.Load(ctx, stack.Options{Dir: dir, Env: "staging", Org: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	staging := m.Identity.Name()
	path := wire.Prefix + "/instances/" + url.PathEscape(staging) + "/promote"
	for _, user := range []string{"member-env", "other"} {
		mp, err := wire.NewModelPayload(m, m.Resolved)
		if err != nil {
			t.Fatal(err)
		}
		if user == "member-env" { // may upload in acme; "other" may not
			mp.Upload = tm.upload(t, user, dir, "acme")
		}
		s, b := tm.do(t, user, "POST", path, wire.PromoteRequest{ModelPayload: mp, Source: target})
		if s != http.StatusNotFound || !bytes.Contains(b, []byte(`instance \"`+staging)) {
			t.Errorf("%s promoting into %s: %d %s, want 404 as for an unknown instance", user, staging, s, b)
		}
	}
	if s, b := tm.do(t, "root-remote", "GET", wire.Prefix+"/instances/"+url.PathEscape(staging), nil); s != http.StatusNotFound {
		t.Fatalf("%s exists after refused promotions: %d %s", staging, s, b)
	}

	mp, err := wire.NewModelPayload(m, m.Resolved)
	if err != nil {
		t.Fatal(err)
	}
	mp.Upload = tm.upload(t, "member-org", dir, "acme")
	s, b := tm.do(t, "member-org", "POST", path, wire.PromoteRequest{ModelPayload: mp, Source: target})
	if s != http.StatusOK || !bytes.Contains(b, []byte(`"kind":"done"`)) {
		t.Fatalf("member of acme promoting %s into %s: %d %s", target, staging, s, b)
	}
	s, b = tm.do(t, "member-org", "GET", wire.Prefix+"/instances/"+url.PathEscape(staging), nil)
	if s != http.StatusOK || !bytes.Contains(b, []byte(`"release":1`)) {
		t.Fatalf("%s after the promotion: %d %s, want release 1", staging, s, b)
	}
}
