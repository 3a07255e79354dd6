package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/datadir"
)

// envNoAutostart, when set, makes verbs fail instead of starting a daemon.
const envNoAutostart = "QUAI_NO_AUTOSTART"

// daemonStartTimeout bounds how long a verb waits for a daemon it started.
const daemonStartTimeout = 30 * time.Second

// dataDir resolves the data directory from --data-dir and the environment.
func (g *globals) dataDir() (string, error) {
	return datadir.Resolve(g.DataDir, os.Getenv, os.Geteuid())
}

// socketPath is --socket, else the data directory's socket.
func (g *globals) socketPath() (string, error) {
	if g.Socket != "" {
		return g.Socket, nil
	}
	dir, err := g.dataDir()
	if err != nil {
		return "", err
	}
	return datadir.SocketPath(dir), nil
}

// client returns a client of the daemon, starting a local daemon in the
// background when none answers (unless QUAI_NO_AUTOSTART is set).
func (g *globals) client(ctx context.Context) (*client.Client, error) {
	sock, err := g.socketPath()
	if err != nil {
		return nil, err
	}
	c := client.New(sock)
	_, err = c.Info(ctx)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, client.ErrDaemonNotRunning) || os.Getenv(envNoAutostart) != "" {
		return nil, err
	}
	if err := g.startDaemon(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// startDaemon spawns `quai serve` detached, with the same data directory and
// socket, and waits until it answers.
func (g *globals) startDaemon(ctx context.Context, c *client.Client) error {
	dir, err := g.dataDir()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, datadir.Mode); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("start the quai daemon: find quai's executable: %w", err)
	}
	logPath := datadir.LogPath(dir)
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("start the quai daemon: open its log: %w", err)
	}
	defer func() { _ = logf.Close() }()
	args := []string{"serve", "--data-dir", dir}
	if g.Socket != "" {
		args = append(args, "--socket", g.Socket)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own session: the daemon outlives this command and ignores the
	// terminal's Ctrl-C.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the quai daemon: %w", err)
	}
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.NewTimer(daemonStartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-exited:
			if err == nil {
				err = errors.New("exit status 0")
			}
			return fmt.Errorf("the quai daemon exited while starting (%w); its log %s ends with:\n%s", err, logPath, tailFile(logPath, 10))
		case <-deadline.C:
			return fmt.Errorf("the quai daemon (pid %d) did not answer on %s within %s; see its log %s", pid, c.Socket(), daemonStartTimeout, logPath)
		case <-tick.C:
			if _, err := c.Info(ctx); err == nil {
				fprintf(g.stderr, "started quai daemon (pid %d, logs %s)\n", pid, logPath)
				return nil
			}
		}
	}
}

// tailFile returns the last n lines of a file, for error messages.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
