package cli_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/cli"
	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/daemon"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/runtime/runtimetest"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// remoteDaemon starts a daemon serving the network API on loopback and
// points the user's config directory at a new one, so that contexts the
// test stores are its own. It returns the daemon, its URL and the token of
// a member of the default organization, made as `quai user add` and `quai
// token create` on the socket make them: requests are authenticated and
// authorized by the daemon's own accounts, as in production.
func remoteDaemon(t *testing.T) (*daemontest.Daemon, string, string) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("QUAI_CONTEXT", "")
	// A remote context never starts a local daemon; this makes a mistake fail.
	t.Setenv("QUAI_NO_AUTOSTART", "1")
	d := daemontest.Start(t, daemontest.Options{Remote: daemon.RemoteConfig{Listen: "127.0.0.1:0"}})
	runIn(t, d, "a long password\n", "user", "add", "dev", "--role", "member", "--in", "default")
	token := strings.TrimSpace(runIn(t, d, "", "token", "create", "laptop", "--user", "dev").stdout)
	if !strings.HasPrefix(token, "quai_pat_") {
		t.Fatalf("token create printed %q", token)
	}
	return d, "https://" + d.APIAddr(), token
}

// runRemote runs a verb with the context the test logged in to, never the
// socket.
func runRemote(t *testing.T, args ...string) result {
	t.Helper()
	return runStdin(t, "", args...)
}

func runStdin(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	t.Logf("quai %s → %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return result{code, out.String(), errOut.String()}
}

func login(t *testing.T, d *daemontest.Daemon, url, token string, extra ...string) {
	t.Helper()
	args := append([]string{"login", url, "--token", token, "--fingerprint", d.APIFingerprint(), "--name", "lab"}, extra...)
	if r := runRemote(t, args...); r.code != 0 {
		t.Fatalf("login exited %d: %s", r.code, r.stderr)
	}
}

// TestRemoteLoginStoresAPinnedContext: `quai login --token --fingerprint`
// stores the context 0600 in a 0700 directory with the CA it pinned, makes
// it current, and verbs then talk to that daemon over TLS; tokens are never
// printed; without a terminal, trust on first use is refused.
func TestRemoteLoginStoresAPinnedContext(t *testing.T) {
	d, url, token := remoteDaemon(t)
	if d.APIFingerprint() == "" || !strings.HasPrefix(d.APIFingerprint(), wire.FingerprintPrefix) {
		t.Fatalf("fingerprint %q", d.APIFingerprint())
	}
	r := runRemote(t, "login", url, "--token", token)
	if r.code == 0 || !strings.Contains(r.stderr, "--fingerprint "+d.APIFingerprint()) {
		t.Fatalf("login without a pin nor a terminal: exit %d, stderr %q; want a refusal naming the fingerprint to pass", r.code, r.stderr)
	}
	login(t, d, url, token)

	path := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "quai", "contexts.json")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	if di, err := os.Stat(filepath.Dir(path)); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("the contexts' directory: %v, mode %v; want 0700", err, di.Mode().Perm())
	}
	var stored struct {
		Current  string `json:"current"`
		Contexts map[string]struct {
			URL, Token, Fingerprint string
			CAPEM                   string `json:"ca_pem"`
		} `json:"contexts"`
	}
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &stored); err != nil {
		t.Fatal(err)
	}
	lab := stored.Contexts["lab"]
	block, _ := pem.Decode([]byte(lab.CAPEM))
	if stored.Current != "lab" || lab.URL != url || lab.Token != token || block == nil ||
		wire.CertFingerprint(block.Bytes) != d.APIFingerprint() || lab.Fingerprint != d.APIFingerprint() {
		t.Fatalf("stored %+v; want the current context lab with the URL, the token and the CA of fingerprint %s", stored, d.APIFingerprint())
	}

	info := runRemote(t, "info", "--json")
	var got wire.Info
	if err := json.Unmarshal([]byte(info.stdout), &got); err != nil || got.APIFingerprint != d.APIFingerprint() || got.APIAddr == "" {
		t.Fatalf("remote quai info: %v %+v; want the API's address and fingerprint", err, got)
	}
	if r := runRemote(t, "ls"); r.code != 0 {
		t.Fatalf("remote ls exited %d", r.code)
	}
	for _, args := range [][]string{{"context", "ls"}, {"context", "ls", "--json"}, {"context", "show"}, {"context", "show", "--json"}} {
		r := runRemote(t, args...)
		if r.code != 0 || strings.Contains(r.stdout+r.stderr, token) || !strings.Contains(r.stdout, url) {
			t.Errorf("quai %s: exit %d; want the URL and never the token:\n%s", strings.Join(args, " "), r.code, r.stdout)
		}
	}
	if r := runRemote(t, "context", "show"); !strings.Contains(r.stdout, "status:       ok") {
		t.Errorf("context show does not say the daemon answers:\n%s", r.stdout)
	}
	// --context default and QUAI_CONTEXT=default are the local daemon.
	if r := runRemote(t, "--context", "default", "ls"); r.code != cli.ExitUnavailable && r.code != 0 {
		t.Errorf("--context default: exit %d", r.code)
	}
	t.Setenv("QUAI_CONTEXT", "nope")
	if r := runRemote(t, "ls"); r.code == 0 || !strings.Contains(r.stderr, `no daemon context "nope"`) {
		t.Errorf("QUAI_CONTEXT=nope: exit %d, %q", r.code, r.stderr)
	}
	t.Setenv("QUAI_CONTEXT", "")
	if r := runRemote(t, "context", "use", "default"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := runRemote(t, "--context", "lab", "ls"); r.code != 0 {
		t.Errorf("--context lab ls: exit %d", r.code)
	}
	if r := runRemote(t, "context", "rm", "lab"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if b, _ := os.ReadFile(path); bytes.Contains(b, []byte(token)) {
		t.Error("context rm left the token on disk")
	}
}

// TestRemoteWrongPinIsRefused: a fingerprint that is not the daemon's CA's
// refuses the connection before any credential is sent, and says both
// fingerprints and what to do.
func TestRemoteWrongPinIsRefused(t *testing.T) {
	d, url, token := remoteDaemon(t)
	wrong := wire.FingerprintPrefix + strings.Repeat("ab", 32)
	r := runRemote(t, "login", url, "--token", token, "--fingerprint", wrong)
	for _, want := range []string{"does not match the pinned CA", wrong, d.APIFingerprint(), "quai login " + url + " --fingerprint " + d.APIFingerprint(), "intercepting"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("login with a wrong pin: exit %d, stderr lacks %q:\n%s", r.code, want, r.stderr)
		}
	}
	if r.code == 0 {
		t.Error("login with a wrong pin succeeded")
	}
	c, err := client.NewRemote(client.RemoteOptions{URL: url, Fingerprint: wrong, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var pe *client.PinError
	if _, err := c.Info(context.Background()); !errors.As(err, &pe) || pe.Got != d.APIFingerprint() {
		t.Errorf("client with a wrong pin: %v, want a *PinError naming %s", err, d.APIFingerprint())
	}
}

// TestRemoteWithoutAValidTokenIs401: no token or a wrong one gets 401 and
// "log in again", from the client and from login.
func TestRemoteWithoutAValidTokenIs401(t *testing.T) {
	d, url, _ := remoteDaemon(t)
	for _, token := range []string{"", "quai_user_wrong"} {
		c, err := client.NewRemote(client.RemoteOptions{URL: url, Fingerprint: d.APIFingerprint(), Token: token})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Instances(context.Background())
		c.Close()
		if !errors.Is(err, client.ErrUnauthenticated) || !strings.Contains(err.Error(), "log in again") {
			t.Errorf("token %q: %v, want 401 and log in again", token, err)
		}
	}
	r := runRemote(t, "login", url, "--token", "quai_user_wrong", "--fingerprint", d.APIFingerprint())
	if r.code == 0 || !strings.Contains(r.stderr, "refused the token") {
		t.Errorf("login with a wrong token: exit %d, %q", r.code, r.stderr)
	}
}

// TestRemoteUpLogsAndExec: from a client with only the URL, the pin and a
// token, `up` of a project folder uploads it and the daemon runs the
// instance from its copy under DATA_DIR/uploads; a second up sends
// nothing; `logs -f` follows over TLS; `exec` runs commands with stdin and
// with a terminal over TLS (HTTP/1.1 upgrade).
func TestRemoteUpLogsAndExec(t *testing.T) {
	d, url, token := remoteDaemon(t)
	login(t, d, url, token)
	dir := daemontest.AppProject(t, daemontest.App{Project: "remote"})
	r := runRemote(t, "up", dir, "-e", "dev", "-y")
	if r.code != 0 || !strings.Contains(r.stderr, "uploading the project folder to "+url) {
		t.Fatalf("remote up: exit %d, stderr %q", r.code, r.stderr)
	}
	st, err := d.Client.Status(context.Background(), "remote-dev")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(st.Dir, filepath.Join(d.DataDir, "uploads", "default")+string(filepath.Separator)) {
		t.Errorf("the instance runs from %s, want a folder under DATA_DIR/uploads/default", st.Dir)
	}
	if _, err := os.Stat(filepath.Join(st.Dir, "compose.yaml")); err != nil {
		t.Errorf("the upload lacks the stack file: %v", err)
	}
	if r := runRemote(t, "up", dir, "-e", "dev", "-y"); r.code != 0 || strings.Contains(r.stderr, "uploading") {
		t.Errorf("second up of the same folder: exit %d, uploaded again: %q", r.code, r.stderr)
	}

	// logs -f over TLS: the line a replica prints when it stops arrives.
	ctx, cancel := context.WithCancel(context.Background())
	var out logBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, []string{"logs", "-f", "remote-dev"}, strings.NewReader(""), &out, &out)
	}()
	time.Sleep(500 * time.Millisecond) // let the follow start; the assertion below waits for the line
	if r := runRemote(t, "restart", "remote-dev"); r.code != 0 {
		t.Fatalf("remote restart: %s", r.stderr)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), runtimetest.SigtermMark) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	if !strings.Contains(out.String(), runtimetest.SigtermMark) {
		t.Errorf("logs -f over TLS did not show %q:\n%s", runtimetest.SigtermMark, out.String())
	}

	exe, _ := os.Executable()
	if r := runRemote(t, "exec", "remote-dev", "web", "--", exe, "echo", "over-tls", "3"); r.code != 3 || !strings.Contains(r.stdout, "over-tls") {
		t.Errorf("remote exec: exit %d, stdout %q; want 3 and over-tls", r.code, r.stdout)
	}
	if r := runStdin(t, "line one\nline two\n", "exec", "-i", "remote-dev", "web", "--", "cat"); r.code != 0 || r.stdout != "line one\nline two\n" {
		t.Errorf("remote exec -i cat: exit %d, stdout %q", r.code, r.stdout)
	}
	c, err := client.NewRemote(client.RemoteOptions{URL: url, Fingerprint: d.APIFingerprint(), Token: token})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var tty bytes.Buffer
	code, err := c.Exec(context.Background(), "remote-dev", client.ExecOptions{Service: "web", TTY: true,
		Cmd: []string{"sh", "-c", "test -t 0 && test -t 1 && echo a-terminal"}, Stdout: &tty,
		Size: &wire.TermSize{Rows: 24, Cols: 80}})
	if err != nil || code != 0 || !strings.Contains(tty.String(), "a-terminal") {
		t.Errorf("remote exec with a terminal: code %d, %v, output %q", code, err, tty.String())
	}
}

// TestRemoteUploadsAreChecked: the daemon refuses uploads that would write
// outside their folder, whose content does not match their name, and over
// the network a model that names no upload (its Dir is the client's).
func TestRemoteUploadsAreChecked(t *testing.T) {
	d, url, token := remoteDaemon(t)
	c, err := client.NewRemote(client.RemoteOptions{URL: url, Fingerprint: d.APIFingerprint(), Token: token})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		hdrs []*tar.Header
	}{
		{"dot dot", []*tar.Header{{Name: "../../escaped", Typeflag: tar.TypeReg, Mode: 0o644}}},
		{"absolute", []*tar.Header{{Name: "/tmp/escaped", Typeflag: tar.TypeReg, Mode: 0o644}}},
		{"link out", []*tar.Header{{Name: "etc", Linkname: "/etc", Typeflag: tar.TypeSymlink}}},
		{"through a link", []*tar.Header{{Name: "up", Linkname: "..", Typeflag: tar.TypeSymlink}, {Name: "up/escaped", Typeflag: tar.TypeReg, Mode: 0o644}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var raw bytes.Buffer
			tw := tar.NewWriter(&raw)
			for _, h := range tc.hdrs {
				if err := tw.WriteHeader(h); err != nil {
					t.Fatal(err)
				}
			}
			_ = tw.Close()
			sum := sha256.Sum256(raw.Bytes())
			hash := wire.UploadHash(sum[:])
			var gz bytes.Buffer
			zw := gzip.NewWriter(&gz)
			_, _ = zw.Write(raw.Bytes())
			_ = zw.Close()
			_, err := c.Upload(ctx, "default", hash, &gz)
			if !errors.Is(err, client.ErrInvalid) || !strings.Contains(err.Error(), "unsafe") {
				t.Errorf("upload: %v, want 400 unsafe entry", err)
			}
			if has, _ := c.HasUpload(ctx, "default", hash); has {
				t.Error("the refused upload is kept")
			}
		})
	}
	if _, err := os.Stat(filepath.Join(d.DataDir, "escaped")); err == nil {
		t.Error("an upload wrote outside its folder")
	}
	// A content that is not what its name says.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_ = tar.NewWriter(zw).Close()
	_ = zw.Close()
	if _, err := c.Upload(ctx, "default", strings.Repeat("0", 64), &gz); !errors.Is(err, client.ErrInvalid) || !strings.Contains(err.Error(), "does not match its hash") {
		t.Errorf("upload under another hash: %v", err)
	}
	// A model with no upload names a directory of the client.
	dir := daemontest.AppProject(t, daemontest.App{Project: "noupload"})
	m := loadModel(t, dir)
	payload, err := wire.NewModelPayload(m, m.Resolved)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Plan(ctx, payload, ""); !errors.Is(err, client.ErrInvalid) || !strings.Contains(err.Error(), "no project folder") {
		t.Errorf("remote plan without an upload: %v", err)
	}
}

func loadModel(t *testing.T, dir string) *stack.Model {
	t.Helper()
	m, err := stack.Load(context.Background(), stack.Options{Dir: dir, Env: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
