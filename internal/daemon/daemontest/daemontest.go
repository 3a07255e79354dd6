// Package daemontest starts a real quai daemon in-process for tests: a
// temporary data directory, the proxy on loopback port 0, the API on a
// socket in a short temporary directory, and a client of it. CLI tests run
// verbs through cli.Run with --socket pointing at it.
//
// The process runtime supervises replicas by re-executing the running
// binary, which in a test is the test binary: every package that uses this
// harness must route its TestMain through Main.
//
// It imports internal/daemon and internal/client; production code never
// imports it.
package daemontest

import (
	"cmp"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/api"
	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/daemon"
	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/proxyd"
	"github.com/quai-dev/quai/internal/runtime/process"
	"github.com/quai-dev/quai/internal/runtime/runtimetest"
)

// Main is the TestMain of packages that use the harness: in a replica
// supervisor started by the process runtime it runs the supervisor, in a
// replica of a project written by AppProject the test app, else the tests.
func Main(m *testing.M) {
	Child()
	os.Exit(m.Run())
}

// Child runs what the test binary was re-executed as, a replica supervisor
// or the test app, and exits; it returns when the binary runs tests. A
// TestMain that dispatches on more cases calls it first.
func Child() {
	if process.IsShim() {
		os.Exit(process.ShimMain())
	}
	if os.Getenv(runtimetest.AppEnv) == "1" {
		runtimetest.AppMain()
	}
}

// Options tune the daemon under test; the zero value is fine.
type Options struct {
	// DataDir reuses a data directory (to test a daemon restart); default a
	// new temporary directory.
	DataDir string
	// HealthTimeout bounds waiting for new replicas; default 30s.
	HealthTimeout time.Duration
	// DrainTimeout bounds draining old replicas; default 2s.
	DrainTimeout time.Duration
	// Logger receives the daemon's log; default the test log, at warn level.
	Logger *slog.Logger
	// KeepInstances leaves instances running at cleanup (for restart tests,
	// which clean up through a later daemon).
	KeepInstances bool
	// DockerHost is the engine of the docker runtime; default off, so that
	// tests that do not use Docker never touch a shared engine.
	DockerHost string
	// Kube configures the kubernetes runtime; without a Kubeconfig the
	// runtime is left out for the same reason.
	Kube daemon.KubeConfig
	// Secrets stands in for the daemon's keyring when it opens the
	// projects' sealed secrets; nil uses the keyring.
	Secrets engine.SecretOpener
	// Backup tunes the backup scheduler; default off, so a test's
	// instances are backed up only when it asks.
	Backup *daemon.BackupConfig
	// Metrics configures metrics collection; default the daemon's
	// (history on, no Prometheus listener).
	Metrics daemon.MetricsConfig
	// Remote serves the network API too (set Remote.Listen, e.g.
	// "127.0.0.1:0"); Authn authenticates its requests.
	Remote daemon.RemoteConfig
	Authn  api.Authenticator
	// Dashboard configures the dashboard's loopback listener; default
	// none.
	Dashboard daemon.DashboardConfig
	// HTTPAddr is the proxy's HTTP listener; default a free loopback port.
	// ACMECA is the ACME directory of the proxy and of the API listener's
	// --acme-domain; default one where nothing answers.
	HTTPAddr, ACMECA string
	// ProxyExecutable runs the proxy in its own process started from this
	// executable (`EXE proxy run`), the arrangement of quai serve; it is
	// stopped when the test ends. Empty runs the proxy in the daemon.
	ProxyExecutable string
}

func kubeConfig(c daemon.KubeConfig) daemon.KubeConfig {
	c.Off = c.Off || c.Kubeconfig == ""
	if c.RolloutTimeout == 0 {
		c.RolloutTimeout = 3 * time.Minute
	}
	return c
}

// Daemon is a started daemon and a client of it.
type Daemon struct {
	*daemon.Daemon
	Client  *client.Client
	DataDir string
	Socket  string

	t    testing.TB
	opts Options
}

// Start starts a daemon; it is stopped, and its instances removed with
// their data, when the test ends.
func Start(t testing.TB, opts Options) *Daemon {
	t.Helper()
	dataDir := opts.DataDir
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	sockDir, err := os.MkdirTemp("", "quai-sock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(sockDir) })
	if opts.HealthTimeout == 0 {
		opts.HealthTimeout = 30 * time.Second
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = 2 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	d, err := daemon.New(daemon.Config{
		DataDir:   dataDir,
		Socket:    filepath.Join(sockDir, "quai.sock"),
		HTTPAddr:  cmp.Or(opts.HTTPAddr, "127.0.0.1:0"),
		HTTPSAddr: "127.0.0.1:0",
		// Routes of real domains start ACME at once: at a CA nothing
		// answers, never Let's Encrypt's.
		ACMECA:        cmp.Or(opts.ACMECA, "https://127.0.0.1:1/directory"),
		Logger:        log,
		HealthTimeout: opts.HealthTimeout,
		DrainTimeout:  opts.DrainTimeout,
		DockerHost:    cmp.Or(opts.DockerHost, daemon.DockerOff),
		Kube:          kubeConfig(opts.Kube),
		Secrets:       opts.Secrets,
		Backup:        backupConfig(opts.Backup),
		Metrics:       opts.Metrics,
		Remote:        opts.Remote,
		Authn:         opts.Authn,
		Dashboard:     opts.Dashboard,

		ProxyExecutable: opts.ProxyExecutable,
	})
	if err != nil {
		t.Fatal(err)
	}
	if opts.ProxyExecutable != "" {
		// After the daemon's own cleanup (cleanups run last first): the
		// proxy process outlives the daemon by design.
		t.Cleanup(func() { StopProxy(t, dataDir) })
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		t.Fatalf("start daemon: %v", err)
	}
	// Tests find the instances of a restarted daemon routed again.
	if err := d.WaitRecovered(ctx); err != nil {
		t.Fatalf("start daemon: %v", err)
	}
	h := &Daemon{Daemon: d, Client: client.New(d.Socket()), DataDir: dataDir, Socket: d.Socket(), t: t, opts: opts}
	t.Cleanup(h.cleanup)
	return h
}

// Stop shuts the daemon down as SIGTERM would: instances keep running.
func (h *Daemon) Stop() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h.Client.Close()
	if err := h.Shutdown(ctx); err != nil {
		h.t.Errorf("daemon shutdown: %v", err)
	}
}

func (h *Daemon) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if !h.opts.KeepInstances {
		// Replicas outlive a daemon by design; a test must not leave them.
		if list, err := h.Client.Instances(ctx); err == nil {
			for _, in := range list {
				if _, err := h.Client.Remove(ctx, in.Name, true, nil); err != nil {
					h.t.Errorf("cleanup: remove %s: %v", in.Name, err)
				}
			}
		}
	}
	h.Client.Close()
	if err := h.Shutdown(ctx); err != nil {
		h.t.Errorf("daemon shutdown: %v", err)
	}
}

// StopProxy stops the proxy process of the data directory dataDir, which
// outlives its daemon by design: a test that started a daemon of its own
// (quai serve, an auto-started one) stops it after the daemon, or the
// proxy process keeps running after the test.
func StopProxy(t testing.TB, dataDir string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := proxyd.Dial(filepath.Join(dataDir, "proxy"))
	defer c.Close()
	if _, err := c.Stop(ctx); err != nil {
		t.Logf("stop the proxy process: %v", err)
		return
	}
	for ctx.Err() == nil {
		if _, err := c.Status(ctx); err != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("the proxy process of %s did not stop", dataDir)
}

// testWriter sends the daemon's log to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func backupConfig(c *daemon.BackupConfig) daemon.BackupConfig {
	if c == nil {
		return daemon.BackupConfig{Off: true}
	}
	return *c
}
