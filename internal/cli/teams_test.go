package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/cli"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/wire"
)

// runIn runs a verb with stdin against the daemon's socket.
func runIn(t *testing.T, d *daemontest.Daemon, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append([]string{"--socket", d.Socket}, args...)
	code := cli.Run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	if code != 0 {
		t.Fatalf("quai %s exited %d: %s", strings.Join(args, " "), code, errOut.String())
	}
	return result{code, out.String(), errOut.String()}
}

// TestTeamsVerbs runs the user, token, org, hook, audit and whoami verbs
// on the socket, as root.
func TestTeamsVerbs(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	runIn(t, d, "", "org", "add", "acme")
	if r := runIn(t, d, "", "org", "ls"); !strings.Contains(r.stdout, "acme") {
		t.Errorf("org ls: %s", r.stdout)
	}
	runIn(t, d, "a long password\n", "user", "add", "alice", "--role", "member", "--in", "acme:dev")
	r := runIn(t, d, "", "user", "grant", "alice", "reader", "acme:prod")
	if !strings.Contains(r.stdout, "member acme:dev") || !strings.Contains(r.stdout, "reader acme:prod") {
		t.Errorf("user grant: %s", r.stdout)
	}
	runIn(t, d, "", "user", "revoke", "alice", "acme:prod")
	var users []wire.User
	if err := json.Unmarshal([]byte(runIn(t, d, "", "user", "ls", "--json").stdout), &users); err != nil || len(users) != 1 || len(users[0].Grants) != 1 {
		t.Errorf("user ls --json: %+v %v", users, err)
	}
	runIn(t, d, "another password\n", "user", "passwd", "alice")
	tok := runIn(t, d, "", "token", "create", "laptop", "--user", "alice", "--expires", "1h")
	secret := strings.TrimSpace(tok.stdout)
	if !strings.HasPrefix(secret, "quai_pat_") || !strings.Contains(tok.stderr, "not shown again") {
		t.Errorf("token create: %q %q", tok.stdout, tok.stderr)
	}
	var toks []wire.Token
	if err := json.Unmarshal([]byte(runIn(t, d, "", "token", "ls", "--all", "--json").stdout), &toks); err != nil || len(toks) != 1 || strings.Contains(runIn(t, d, "", "token", "ls", "--all").stdout, secret) {
		t.Fatalf("token ls: %+v %v", toks, err)
	}
	runIn(t, d, "", "token", "revoke", toks[0].ID)
	if r := runIn(t, d, "", "token", "ls", "--user", "alice"); !strings.Contains(r.stdout, "revoked") {
		t.Errorf("token ls after revoke: %s", r.stdout)
	}
	if r := runIn(t, d, "", "whoami"); !strings.Contains(r.stdout, "root") {
		t.Errorf("whoami: %s", r.stdout)
	}
	dir := daemontest.AppProject(t, daemontest.App{Project: "shop"})
	runIn(t, d, "", "up", dir, "--env", "dev", "--org", "acme")
	hk := runIn(t, d, "", "hook", "create", "acme/shop-dev", "--json")
	var h wire.HookCreated
	if err := json.Unmarshal([]byte(hk.stdout), &h); err != nil || h.Secret == "" || h.URL != wire.Prefix+"/hooks/"+h.ID {
		t.Fatalf("hook create: %s %v", hk.stdout, err)
	}
	if r := runIn(t, d, "", "hook", "ls"); !strings.Contains(r.stdout, h.ID) || strings.Contains(r.stdout, h.Secret) {
		t.Errorf("hook ls: %s", r.stdout)
	}
	runIn(t, d, "", "hook", "rm", h.ID)
	runIn(t, d, "", "user", "rm", "alice")
	a := runIn(t, d, "", "audit", "--org", "acme")
	for _, want := range []string{"root (socket)", "hooks", "up", "acme/shop-dev"} {
		if !strings.Contains(a.stdout, want) {
			t.Errorf("audit --org acme lacks %q:\n%s", want, a.stdout)
		}
	}
	t.Logf("quai audit --org acme:\n%s", a.stdout)
}
