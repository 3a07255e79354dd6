package cli_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
)

// quaiBinary builds cmd/quai once per test run: these tests run the real
// binary as users do, several processes at once.
var quaiBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "quai-bin-")
	if err != nil {
		return "", err
	}
	exe := filepath.Join(dir, "quai")
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "build", "-o", exe, "./cmd/quai")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{err: err, out: string(out)}
	}
	return exe, nil
})

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build ./cmd/quai: " + e.err.Error() + "\n" + e.out }

// autostartEnv is the environment of quai processes that start a daemon on
// a fresh data directory: loopback proxy, no Docker Engine nor cluster of
// the host's (a daemon's start-up must not touch what other daemons run).
func autostartEnv(dataDir string, extra ...string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		for _, k := range []string{"QUAI_", "DOCKER_HOST=", "KUBECONFIG="} {
			if strings.HasPrefix(kv, k) {
				return true
			}
		}
		return false
	})
	env = append(env, "QUAI_DATA_DIR="+dataDir, "QUAI_HTTP=127.0.0.1:0", "QUAI_HTTPS=off",
		"DOCKER_HOST=unix://"+filepath.Join(dataDir, "no-docker.sock"), "KUBECONFIG="+filepath.Join(dataDir, "no-kubeconfig"))
	return append(env, extra...)
}

// serveProcesses lists the pids of `quai serve` processes of exe on dataDir.
func serveProcesses(t *testing.T, exe, dataDir string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue // gone meanwhile
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) >= 4 && args[0] == exe && args[1] == "serve" && slices.Contains(args, dataDir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// stopDaemons stops the daemons of dataDir with SIGTERM and waits until
// they are gone.
func stopDaemons(t *testing.T, exe, dataDir string) {
	for _, pid := range serveProcesses(t, exe, dataDir) {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	// The proxy process outlives its daemon by design: stopped after it.
	defer daemontest.StopProxy(t, dataDir)
	for range 400 {
		if len(serveProcesses(t, exe, dataDir)) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("daemons of %s still running after SIGTERM: %v", dataDir, serveProcesses(t, exe, dataDir))
}

func tempDataDir(t *testing.T) string {
	t.Helper()
	// Short, for the socket path's limit.
	dir, err := os.MkdirTemp("", "quai-auto-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func TestConcurrentVerbsShareTheOneDaemonStarted(t *testing.T) {
	exe, err := quaiBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := tempDataDir(t)
	t.Cleanup(func() { stopDaemons(t, exe, dir) })

	const verbs = 5
	type outcome struct {
		err    error
		stderr string
	}
	results := make([]outcome, verbs)
	var wg sync.WaitGroup
	for i := range verbs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, exe, "ls")
			cmd.Env = autostartEnv(dir)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			results[i] = outcome{err, stderr.String()}
		})
	}
	wg.Wait()
	started := 0
	for i, r := range results {
		if r.err != nil {
			t.Errorf("ls %d: %v\n%s", i, r.err, r.stderr)
		}
		if strings.Contains(r.stderr, "started quai daemon") {
			started++
		}
	}
	if pids := serveProcesses(t, exe, dir); len(pids) != 1 || started != 1 {
		t.Errorf("%d serve processes (%v), %d verbs said they started one; want exactly one", len(pids), pids, started)
	}
}

// A daemon started by hand that has the data directory but does not answer
// yet (here its Docker Engine stalls its start-up) is waited for: the verb's
// own daemon finds the directory taken and the verb uses the other one.
func TestVerbWaitsForADaemonStartedByHand(t *testing.T) {
	exe, err := quaiBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := tempDataDir(t)
	t.Cleanup(func() { stopDaemons(t, exe, dir) })

	// An "engine" that accepts connections and never answers until released.
	stall, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := stall.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	release := func() {
		_ = stall.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	}
	t.Cleanup(release)

	hand := exec.Command(exe, "serve", "--data-dir", dir)
	hand.Env = autostartEnv(dir, "DOCKER_HOST=tcp://"+stall.Addr().String())
	var handLog bytes.Buffer
	hand.Stdout, hand.Stderr = &handLog, &handLog
	if err := hand.Start(); err != nil {
		t.Fatal(err)
	}
	handDone := make(chan error, 1)
	go func() { handDone <- hand.Wait() }()
	t.Cleanup(func() {
		_ = hand.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-handDone:
			if err != nil {
				t.Logf("the daemon started by hand ended with %v\n%s", err, handLog.String())
			}
		case <-time.After(30 * time.Second):
			_ = hand.Process.Kill()
			t.Errorf("the daemon started by hand did not stop on SIGTERM")
		}
	})
	// It holds the data directory once it wrote its pid file.
	waitFor(t, "the daemon started by hand to take the data directory", func() bool {
		_, err := os.Stat(filepath.Join(dir, "quai.pid"))
		return err == nil
	})
	if _, err := client.New(filepath.Join(dir, "quai.sock")).Info(context.Background()); err == nil {
		t.Fatal("the daemon started by hand answers already; the test needs it still starting")
	}

	ls := exec.Command(exe, "ls")
	ls.Env = autostartEnv(dir)
	var lsOut bytes.Buffer
	ls.Stdout, ls.Stderr = &lsOut, &lsOut
	if err := ls.Start(); err != nil {
		t.Fatal(err)
	}
	lsDone := make(chan error, 1)
	go func() { lsDone <- ls.Wait() }()
	// The daemon ls started gave up on the taken directory; now let the
	// one started by hand finish starting.
	waitFor(t, "the verb's own daemon to find the data directory taken", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "daemon.log"))
		return bytes.Contains(b, []byte("data directory in use by another quai daemon"))
	})
	release()
	select {
	case err := <-lsDone:
		if err != nil || !strings.Contains(lsOut.String(), "no instances") {
			t.Errorf("ls: %v\n%s", err, lsOut.String())
		}
	case err := <-handDone:
		t.Fatalf("the daemon started by hand exited: %v\n%s", err, handLog.String())
	case <-time.After(2 * time.Minute):
		_ = ls.Process.Kill()
		t.Fatalf("ls did not finish\n%s", lsOut.String())
	}
	if pids := serveProcesses(t, exe, dir); len(pids) != 1 || pids[0] != hand.Process.Pid {
		t.Errorf("serve processes %v; want only the one started by hand (%d)", pids, hand.Process.Pid)
	}
}

// waitFor polls cond (bounded) and fails the test when it never holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1200 {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
