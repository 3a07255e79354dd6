// Package edgetest drives real quai processes for the edge's tests and
// benchmark (test/e2e/edge, bench/edge): it builds quai binaries, starts,
// stops and kills daemons, deploys a one-service project whose app is the
// calling binary itself (AppMain, with HTTP and a WebSocket echo), runs a
// bounded request load through the proxy and holds WebSockets open.
package edgetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/proxyd"
)

// Host is the project's routed host (project edge, environment dev).
const Host = "edge.dev.localhost"

// Instance is the deployed instance's name.
const Instance = "edge-dev"

// ModuleRoot is the directory of quai's go.mod, found upwards from the
// working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("edgetest: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Build compiles quai with version v into dir/quai, as a release would be.
func Build(dir, v string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "quai")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build",
		"-ldflags", "-X github.com/quai-dev/quai/internal/version.Version="+v, "-o", out, "./cmd/quai")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build quai %s: %w\n%s", v, err, b)
	}
	return out, nil
}

// Quai runs one data directory's quai processes from a binary.
type Quai struct {
	Bin     string
	DataDir string
	// Logs is where daemon logs go (one file per start).
	Logs   string
	starts int
}

func (q *Quai) env() []string {
	return append(os.Environ(), "QUAI_DATA_DIR="+q.DataDir)
}

// Run runs a CLI verb and returns its combined output.
func (q *Quai) Run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, q.Bin, args...)
	cmd.Env = q.env()
	b, err := cmd.CombinedOutput()
	if err != nil {
		return string(b), fmt.Errorf("quai %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	return string(b), nil
}

// Daemon is a `quai serve` process.
type Daemon struct {
	cmd  *exec.Cmd
	done chan error
	Log  string
}

// PID is the daemon's pid.
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// StartDaemon starts `quai serve` with the proxy on loopback (HTTP only)
// and more flags, and waits until its API answers.
func (q *Quai) StartDaemon(flags ...string) (*Daemon, error) {
	q.starts++
	logPath := filepath.Join(q.Logs, fmt.Sprintf("daemon-%d.log", q.starts))
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	args := append([]string{"serve", "--http", "127.0.0.1:0", "--https", "off", "--no-kubernetes",
		"--docker-host", "off", "--no-history", "--log-level", "info"}, flags...)
	cmd := exec.Command(q.Bin, args...) //nolint:gosec // the quai binary under test
	cmd.Env = q.env()
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &Daemon{cmd: cmd, done: make(chan error, 1), Log: logPath}
	go func() { d.done <- cmd.Wait() }()
	c := client.New(filepath.Join(q.DataDir, "quai.sock"))
	defer c.Close()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Info(ctx)
		cancel()
		if err == nil {
			return d, nil
		}
		select {
		case err := <-d.done:
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("quai serve exited at start: %w\n%s", err, b)
		case <-time.After(50 * time.Millisecond):
		}
	}
	_ = cmd.Process.Kill()
	return nil, fmt.Errorf("quai serve did not answer within a minute (log %s)", logPath)
}

// Term stops the daemon with SIGTERM and waits for it.
func (d *Daemon) Term() error { return d.signal(syscall.SIGTERM) }

// Kill kills the daemon with SIGKILL and waits for it.
func (d *Daemon) Kill() error { return d.signal(syscall.SIGKILL) }

func (d *Daemon) signal(sig syscall.Signal) error {
	if err := d.cmd.Process.Signal(sig); err != nil {
		return err
	}
	select {
	case err := <-d.done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			return err
		}
		return nil
	case <-time.After(time.Minute):
		_ = d.cmd.Process.Kill()
		return fmt.Errorf("the daemon did not stop within a minute of %s", sig)
	}
}

// ProxyStatus asks the data directory's proxy process how it is.
func (q *Quai) ProxyStatus() (proxyd.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := proxyd.Dial(filepath.Join(q.DataDir, "proxy"))
	defer c.Close()
	return c.Status(ctx)
}

// ProxyPIDs lists the running `quai proxy run` processes of the data
// directory (zombies left out).
func (q *Quai) ProxyPIDs() []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(bytes.TrimRight(b, "\x00")), "\x00")
		if len(args) < 5 || args[len(args)-2] != "proxy" || args[len(args)-1] != "run" || !slicesContains(args, q.DataDir) {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			if i := bytes.LastIndexByte(st, ')'); i > 0 && len(st) > i+2 && st[i+2] == 'Z' {
				continue
			}
		}
		out = append(out, pid)
	}
	return out
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// WriteProject writes the one-service project: its web service is app
// (an executable that runs AppMain when QUAI_EDGE_APP is set), routed at
// Host and health-checked; a new version replaces the replicas.
func WriteProject(dir, app, version string, replicas int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	y := fmt.Sprintf(`x-quai:
  project: edge
  routes:
    - path: /
      service: web
      port: 8080
      tls: "off"
services:
  web:
    image: quai-edge-app
    environment:
      QUAI_EDGE_APP: "1"
      VERSION: %q
    expose: [8080]
    deploy:
      replicas: %d
    x-quai:
      health: { path: /healthz }
      process:
        command: [%q]
`, version, replicas, app)
	return os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(y), 0o644) //nolint:gosec // a test project
}

// RSS is a process's resident memory in KiB: anonymous, file-backed and
// total (VmRSS).
type RSS struct{ Anon, File, Total int }

// ReadRSS reads /proc/PID/status.
func ReadRSS(pid int) (RSS, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return RSS{}, err
	}
	var r RSS
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "RssAnon:":
			r.Anon = n
		case "RssFile:":
			r.File = n
		case "VmRSS:":
			r.Total = n
		}
	}
	return r, nil
}
