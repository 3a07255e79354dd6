// Package edge_test proves the proxy process outlives the daemon: under a
// continuous load through the proxy, daemon SIGTERM and restart, kill -9
// and restart, an upgrade to a freshly built quai, a deploy, and an
// upgrade of the proxy itself by socket handoff each drop no request and
// keep an open WebSocket working. Everything is a real process: quai
// binaries built from this tree, the daemon, the proxy process and the
// app's replicas (this test binary, as edgetest.AppMain).
package edge_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/proxyd"
	"github.com/quai-dev/quai/internal/wire"
	"github.com/quai-dev/quai/test/e2e/edgetest"
)

func TestMain(m *testing.M) {
	if edgetest.IsApp() {
		os.Exit(edgetest.AppMain())
	}
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// The two builds the tests share: building quai takes minutes on a busy
// machine.
var (
	buildOnce      sync.Once
	binDir         string
	oldBin, newBin string
	errBuild       error
)

func builds(t *testing.T) (string, string) {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, errBuild = os.MkdirTemp("", "qedge-bin-"); errBuild != nil {
			return
		}
		for _, d := range []string{"old", "new"} {
			if errBuild = os.MkdirAll(filepath.Join(binDir, d), 0o755); errBuild != nil {
				return
			}
		}
		if oldBin, errBuild = edgetest.Build(filepath.Join(binDir, "old"), "edge-old"); errBuild != nil {
			return
		}
		newBin, errBuild = edgetest.Build(filepath.Join(binDir, "new"), "edge-new")
	})
	if errBuild != nil {
		t.Fatal(errBuild)
	}
	return oldBin, newBin
}

// env is one data directory with two builds of quai: old and the newer
// one it is upgraded to.
type env struct {
	t        *testing.T
	old, new string
	q        *edgetest.Quai
	project  string
	daemon   *edgetest.Daemon
}

func setup(t *testing.T) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("builds quai twice and runs real daemons")
	}
	oldBin, newBin := builds(t)
	// Unix socket paths are short: a data directory of its own under /tmp.
	dataDir, err := os.MkdirTemp("", "qedge-")
	if err != nil {
		t.Fatal(err)
	}
	app, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, old: oldBin, new: newBin, q: &edgetest.Quai{Bin: oldBin, DataDir: dataDir, Logs: t.TempDir()},
		project: filepath.Join(t.TempDir(), "edge")}
	if err := edgetest.WriteProject(e.project, app, "1", 2); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.cleanup)
	return e
}

// cleanup removes the instance, stops the daemon and the proxy, and the
// data directory: nothing this test started outlives it.
func (e *env) cleanup() {
	t := e.t
	if e.daemon == nil {
		if d, err := e.q.StartDaemon(); err == nil {
			e.daemon = d
		} else {
			t.Errorf("cleanup: %v", err)
		}
	}
	if _, err := e.q.Run("rm", edgetest.Instance, "--purge", "-y"); err != nil && !strings.Contains(err.Error(), "not found") {
		t.Errorf("cleanup: %v", err)
	}
	if e.daemon != nil {
		if err := e.daemon.Term(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	if _, err := e.q.Run("proxy", "stop"); err != nil {
		t.Logf("cleanup: %v", err)
	}
	for _, pid := range e.q.ProxyPIDs() {
		t.Errorf("cleanup: proxy process %d still runs; killing it", pid)
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Kill()
		}
	}
	if t.Failed() {
		for _, f := range []string{filepath.Join(e.q.DataDir, "proxy", "proxy.log")} {
			b, _ := os.ReadFile(f)
			t.Logf("%s:\n%s", f, b)
		}
		logs, _ := filepath.Glob(filepath.Join(e.q.Logs, "*.log"))
		for _, f := range logs {
			b, _ := os.ReadFile(f)
			t.Logf("%s:\n%s", f, b)
		}
	}
	_ = os.RemoveAll(e.q.DataDir)
}

func (e *env) startDaemon() {
	e.t.Helper()
	d, err := e.q.StartDaemon()
	if err != nil {
		e.t.Fatal(err)
	}
	e.daemon = d
}

// oneProxy returns the single proxy process of the data directory.
func (e *env) oneProxy() int {
	e.t.Helper()
	st, err := e.q.ProxyStatus()
	if err != nil {
		e.t.Fatalf("proxy status: %v", err)
	}
	// A proxy that handed over drains before it exits: wait for that.
	var pids []int
	for deadline := time.Now().Add(45 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if pids = e.q.ProxyPIDs(); len(pids) == 1 {
			break
		}
	}
	if !slices.Equal(pids, []int{st.PID}) {
		e.t.Fatalf("proxy processes %v; want exactly the one answering, %d", pids, st.PID)
	}
	return st.PID
}

func echo(t *testing.T, ws *edgetest.WS, msg, want string) {
	t.Helper()
	got, err := ws.Echo(msg)
	if err != nil || got != want {
		t.Fatalf("websocket echo of %q = %q, %v; want %q", msg, got, err, want)
	}
}

func TestDaemonRestartsAndUpgradesDropNoRequest(t *testing.T) {
	e := setup(t)
	e.startDaemon()
	if _, err := e.q.Run("up", e.project, "-y"); err != nil {
		t.Fatal(err)
	}
	proxyPID := e.oneProxy()
	st, err := e.q.ProxyStatus()
	if err != nil {
		t.Fatal(err)
	}
	addr := st.HTTPAddr
	load := edgetest.StartLoad(addr, edgetest.Host, 4, 2_000_000, 10*time.Minute, time.Millisecond)
	ws, err := edgetest.DialWS(addr, edgetest.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws.Close() }()
	echo(t, ws, "hello", "1:hello")
	check := func(step string) {
		t.Helper()
		if !load.WaitProgress(200) {
			t.Fatalf("%s: the load made no progress", step)
		}
		if ok, failed := load.Counts(); failed > 0 {
			t.Fatalf("%s: %d of %d requests failed: %v", step, failed, ok+failed, load.Errors())
		}
		echo(t, ws, step, "1:"+step)
		t.Logf("%s: ok", step)
	}
	check("before")

	if err := e.daemon.Term(); err != nil {
		t.Fatal(err)
	}
	e.daemon = nil
	check("daemon stopped (SIGTERM)")
	e.startDaemon()
	check("daemon restarted")
	if pid := e.oneProxy(); pid != proxyPID {
		t.Fatalf("the restarted daemon runs proxy %d; want the running one, %d, adopted", pid, proxyPID)
	}

	if err := e.daemon.Kill(); err != nil {
		t.Fatal(err)
	}
	e.daemon = nil
	check("daemon killed (SIGKILL)")
	e.startDaemon()
	check("daemon restarted after kill -9")
	if pid := e.oneProxy(); pid != proxyPID {
		t.Fatalf("the daemon started after kill -9 runs proxy %d; want the running one, %d, adopted", pid, proxyPID)
	}

	// The daemon upgrade: the new binary's daemon adopts the proxy.
	if err := e.daemon.Term(); err != nil {
		t.Fatal(err)
	}
	e.daemon = nil
	e.q.Bin = e.new
	e.startDaemon()
	check("daemon upgraded to a new quai")
	if pid := e.oneProxy(); pid != proxyPID {
		t.Fatalf("the upgraded daemon runs proxy %d; want the running one, %d, adopted", pid, proxyPID)
	}

	// A deploy through the adopted proxy: new replicas, switch, drain.
	if err := edgetest.WriteProject(e.project, mustExe(t), "2", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := e.q.Run("up", e.project, "-y"); err != nil {
		t.Fatal(err)
	}
	if !load.WaitProgress(200) {
		t.Fatal("no progress after the deploy")
	}
	if ok, failed := load.Counts(); failed > 0 {
		t.Fatalf("deploy: %d of %d requests failed: %v", failed, ok+failed, load.Errors())
	}
	// The WebSocket opened to a replica of release 1, which the deploy
	// drained and stopped: a new one reaches release 2.
	_ = ws.Close()
	if ws, err = edgetest.DialWS(addr, edgetest.Host); err != nil {
		t.Fatal(err)
	}
	echo(t, ws, "deployed", "2:deployed")

	// quai top reads the proxy's request figures over its socket.
	e.waitTopRequests()

	// The proxy upgrade: sockets handed to a process of the new binary.
	out, err := e.q.Run("proxy", "upgrade", "--executable", e.new)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(strings.TrimSpace(out))
	st, err = e.q.ProxyStatus()
	if err != nil {
		t.Fatal(err)
	}
	if st.PID == proxyPID || st.Version != "edge-new" || st.HTTPAddr != addr {
		t.Fatalf("after the upgrade the proxy is %+v; want a new process of edge-new on %s", st, addr)
	}
	// The old process still carries the WebSocket while it drains.
	if !load.WaitProgress(200) {
		t.Fatal("no progress after the proxy upgrade")
	}
	echo(t, ws, "handed over", "2:handed over")
	if ok, failed := load.Counts(); failed > 0 {
		t.Fatalf("proxy upgrade: %d of %d requests failed: %v", failed, ok+failed, load.Errors())
	}
	_ = ws.Close()
	// With its last tunnel closed the old process exits.
	newPID := e.oneProxy()
	if ws, err = edgetest.DialWS(addr, edgetest.Host); err != nil {
		t.Fatal(err)
	}
	echo(t, ws, "new proxy", "2:new proxy")
	ok, failed := load.Stop()
	t.Logf("%d requests, %d failed; proxy %d -> %d", ok+failed, failed, proxyPID, newPID)
	if failed > 0 {
		t.Fatalf("%d of %d requests failed: %v", failed, ok+failed, load.Errors())
	}
}

func mustExe(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// TestProxyCrashIsRestartedAndServesWithoutDaemon: a proxy process killed
// while the daemon runs is started again by the daemon with the table
// (requests fail in the gap: the listeners died with it); and a proxy
// started by hand while no daemon runs serves the last table at once.
func TestProxyCrashIsRestartedAndServesWithoutDaemon(t *testing.T) {
	e := setup(t)
	e.startDaemon()
	if _, err := e.q.Run("up", e.project, "-y"); err != nil {
		t.Fatal(err)
	}
	st, err := e.q.ProxyStatus()
	if err != nil {
		t.Fatal(err)
	}
	p, err := os.FindProcess(st.PID)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	var got string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if s2, err := e.q.ProxyStatus(); err == nil && s2.PID != st.PID {
			if got, err = edgetest.GetOnce(s2.HTTPAddr, edgetest.Host); err == nil {
				break
			}
		}
	}
	if got != "ok 1\n" {
		t.Fatalf("after the proxy was killed, GET through a new one = %q; want the app", got)
	}
	newPID := e.oneProxy()
	t.Logf("proxy %d killed; the daemon started %d", st.PID, newPID)

	// Everything stopped: the daemon, then the proxy.
	if err := e.daemon.Term(); err != nil {
		t.Fatal(err)
	}
	e.daemon = nil
	if _, err := e.q.Run("proxy", "stop"); err != nil {
		t.Fatal(err)
	}
	if pids := e.q.ProxyPIDs(); len(pids) != 0 {
		t.Fatalf("proxy processes %v after quai proxy stop", pids)
	}
	// A proxy alone, started by hand, serves the last table before any
	// daemon pushes one.
	cmd := exec.Command(e.q.Bin, "--data-dir", e.q.DataDir, "proxy", "run")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var alone proxyd.Status
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if alone, err = e.q.ProxyStatus(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("quai proxy run did not answer: %v", err)
	}
	if got, err := edgetest.GetOnce(alone.HTTPAddr, edgetest.Host); err != nil || got != "ok 1\n" {
		t.Fatalf("a proxy started without a daemon: GET = %q, %v; want the app from the persisted table", got, err)
	}
	if _, err := e.q.Run("proxy", "stop"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waited:
		if err != nil {
			t.Errorf("quai proxy run: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("quai proxy run did not exit after quai proxy stop")
	}
}

// waitTopRequests waits until `quai top` shows the routed service's
// requests, which the daemon's collector reads from the proxy process.
func (e *env) waitTopRequests() {
	e.t.Helper()
	c := client.New(filepath.Join(e.q.DataDir, "quai.sock"))
	defer c.Close()
	var last wire.MetricsTop
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		top, err := c.MetricsTop(ctx)
		cancel()
		if err != nil {
			continue
		}
		last = top
		for _, r := range top.Rows {
			if r.Instance == edgetest.Instance && r.Service == "web" && r.Routed && r.RequestsPerSec > 0 {
				e.t.Logf("quai top: %s/%s %.0f req/s", r.Instance, r.Service, r.RequestsPerSec)
				return
			}
		}
	}
	e.t.Fatalf("quai top never showed the load's requests: %+v", last.Rows)
}
