package processe2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/cli"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/test/e2e/e2etest"
)

// traceback is what the crash-looping release prints before it exits 1, as
// a Python app missing a module would.
const traceback = `Traceback (most recent call last):
  File "/srv/app/main.py", line 3, in <module>
    import flask
ModuleNotFoundError: No module named 'flask'`

// crashProject writes a one-service project, routed and health-checked,
// whose web service runs the test app (the test binary): serving, or with
// crash set printing traceback and exiting 1 at once, every time it starts.
// A new version replaces the replicas.
func crashProject(t *testing.T, dir, version string, crash bool) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	command := fmt.Sprintf("[%q]", exe)
	if crash {
		command = fmt.Sprintf("[%q, \"echo\", %q, \"1\"]", exe, traceback)
	}
	e2etest.WriteFile(t, dir, "compose.yaml", fmt.Sprintf(`x-quai:
  project: crashy
  routes:
    - path: /
      service: web
      port: 8080
      tls: "off"
services:
  web:
    image: quai-test-app
    environment:
      QUAI_TESTAPP: "1"
      VERSION: %q
    expose: [8080]
    x-quai:
      health: { path: /healthz }
      process:
        command: %s
`, version, command))
}

// TestCrashLoopFailsUpWithItsTraceback: a release whose service crashes at
// every start fails `up` after three crashes (the health timeout here is
// far longer), and the output names the replica, the exit code and shows
// the traceback; the previous release keeps serving; `logs --release`
// reads the failed release's replicas until the next successful release.
func TestCrashLoopFailsUpWithItsTraceback(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{HealthTimeout: 10 * time.Minute})
	dir := filepath.Join(t.TempDir(), "crashy")
	const inst = "crashy-dev"

	crashProject(t, dir, "1", false)
	e2etest.MustQuai(t, d.Socket, "up", dir, "-y")
	get := func() (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "http://"+d.ProxyHTTPAddr()+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "crashy.dev.localhost"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET through the proxy: %v", err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != http.StatusOK {
		t.Fatalf("release 1 answers %d %q", code, body)
	}

	crashProject(t, dir, "2", true)
	out, code := e2etest.Quai(t, d.Socket, "up", dir, "-y")
	t.Logf("quai up of the crash-looping release (exit %d):\n%s", code, out)
	if code != cli.ExitFailed {
		t.Fatalf("quai up exited %d, want %d (failed operation)", code, cli.ExitFailed)
	}
	for _, want := range []string{
		"web-r2-1: health failed: crashed 3 times, last with exit code 1",
		"last log lines:",
		"  | Traceback (most recent call last):",
		"  | ModuleNotFoundError: No module named 'flask'",
		"release 2 failed, release 1 keeps serving",
		"quai logs crashy-dev --release 2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output of the failed up lacks %q", want)
		}
	}
	if strings.Contains(out, "did not become healthy within") {
		t.Error("the crash loop waited for the health timeout")
	}
	if code, body := get(); code != http.StatusOK {
		t.Errorf("after the failed release the site answers %d %q; release 1 must keep serving", code, body)
	}

	logs := e2etest.MustQuai(t, d.Socket, "logs", inst, "--release", "2")
	if n := strings.Count(logs, "ModuleNotFoundError: No module named 'flask'"); n < 3 {
		t.Errorf("logs --release 2 shows the traceback %d times, want one per crash (3):\n%s", n, logs)
	}
	logs = e2etest.MustQuai(t, d.Socket, "logs", inst, "web", "--release", "2", "-n", "1", "--no-log-prefix")
	if strings.TrimSpace(logs) != "ModuleNotFoundError: No module named 'flask'" {
		t.Errorf("logs web --release 2 -n 1 = %q", logs)
	}
	if out, code := e2etest.Quai(t, d.Socket, "logs", inst, "--release", "9"); code != cli.ExitNotFound {
		t.Errorf("logs --release 9 (no such release) exited %d, want %d:\n%s", code, cli.ExitNotFound, out)
	}

	// A successful release removes what the failed one kept; its logs
	// stay within the log retention.
	crashProject(t, dir, "3", false)
	e2etest.MustQuai(t, d.Socket, "up", dir, "-y")
	kept, err := filepath.Glob(filepath.Join(d.DataDir, "process", "instances", "*", "replicas", "web-r2-*"))
	if err != nil || len(kept) > 0 {
		t.Errorf("after release 3 the failed replicas' directories remain: %v %v", kept, err)
	}
}
