package processe2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/cli"
	"github.com/quai-dev/quai/internal/daemon"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/test/e2e/e2etest"
)

// quaiRemote runs a verb as a laptop would: no socket, no data directory,
// the context `quai login` stored.
func quaiRemote(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	code := cli.Run(ctx, args, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), code
}

// TestUsersAPIRemoteUp deploys the example from a client that has only the
// daemon's URL, its CA's fingerprint and a token of a member (made with
// `quai token create`, checked by the daemon's accounts), and a copy of the project
// in a directory of its own: `quai login`, then `quai up DIR --env dev`
// over TLS uploads the folder (with the binaries the process runtime runs)
// and the daemon runs the instance from its copy; the site answers through
// the proxy. It logs how long the remote up took beside a local up of the
// same project on the same machine, and the upload's size.
func TestUsersAPIRemoteUp(t *testing.T) {
	needPostgres(t)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("QUAI_CONTEXT", "")
	t.Setenv("QUAI_NO_AUTOSTART", "1")
	dir := e2etest.Project(t, nil)
	e2etest.SetVersion(t, dir, "1")
	d := daemontest.Start(t, daemontest.Options{DataDir: e2etest.DataDir(t), HealthTimeout: 2 * time.Minute,
		Remote: daemon.RemoteConfig{Listen: "127.0.0.1:0"}})
	url := "https://" + d.APIAddr()
	// The developer's token, made on the host as an admin makes it: a
	// member of the default organization; the daemon's own accounts check
	// it on every request.
	if out, code := e2etest.QuaiIn(t, d.Socket, "a long password\n", "user", "add", "dev", "--role", "member", "--in", "default"); code != 0 {
		t.Fatalf("user add: exit %d\n%s", code, out)
	}
	remoteToken := ""
	for _, l := range strings.Split(e2etest.MustQuai(t, d.Socket, "token", "create", "laptop", "--user", "dev", "--expires", "1h"), "\n") {
		if strings.HasPrefix(l, "quai_pat_") {
			remoteToken = l
		}
	}
	if remoteToken == "" {
		t.Fatal("token create printed no token")
	}

	// A local up first, on the socket, for the comparison; then the
	// instance is purged and installed again from the "laptop".
	start := time.Now()
	e2etest.MustQuai(t, d.Socket, "up", dir, "--env", "dev", "-y")
	local := time.Since(start)
	start = time.Now()
	e2etest.MustQuai(t, d.Socket, "up", dir, "--env", "dev", "-y")
	localAgain := time.Since(start)
	e2etest.MustQuai(t, d.Socket, "rm", instance, "--purge", "-y")

	if out, errOut, code := quaiRemote(t, "login", url, "--token", remoteToken, "--fingerprint", d.APIFingerprint()); code != 0 {
		t.Fatalf("login: exit %d\n%s%s", code, out, errOut)
	}
	start = time.Now()
	out, errOut, code := quaiRemote(t, "up", dir, "--env", "dev", "-y")
	remote := time.Since(start)
	if code != 0 {
		t.Fatalf("remote up: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, siteHost) {
		t.Errorf("remote up does not print the site's URL:\n%s", out)
	}
	site := e2etest.NewSite(d.ProxyHTTPAddr(), siteHost)
	if err := site.Page(); err != nil {
		t.Fatal(err)
	}
	u := site.CreateUser(t, "remote")
	site.HasUser(t, u, "after a remote up")
	st, err := d.Client.Status(context.Background(), instance)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(st.Dir, filepath.Join(d.DataDir, "uploads")) {
		t.Errorf("the instance runs from %s, not from an upload", st.Dir)
	}
	if _, err := os.Stat(filepath.Join(st.Dir, "bin", "api")); err != nil {
		t.Errorf("the upload lacks the api's binary: %v", err)
	}
	// An up with nothing changed sends nothing and changes nothing.
	start = time.Now()
	out2, errOut2, code := quaiRemote(t, "up", dir, "--env", "dev", "-y")
	again := time.Since(start)
	if code != 0 || strings.Contains(errOut2, "uploading") {
		t.Errorf("second remote up: exit %d, %s", code, errOut2)
	}
	t.Logf("second remote up:\n%s", out2)
	t.Logf("figure: up of users-api on the process runtime: first install local (socket) %s, remote (TLS + upload) %s, ratio %.2f; "+
		"up with nothing changed: local %s, remote %s, ratio %.2f; %s",
		local.Round(time.Millisecond), remote.Round(time.Millisecond), remote.Seconds()/local.Seconds(),
		localAgain.Round(time.Millisecond), again.Round(time.Millisecond), again.Seconds()/localAgain.Seconds(),
		strings.TrimSpace(errOut))
}
