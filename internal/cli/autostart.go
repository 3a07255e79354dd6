package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/datadir"
)

// daemonStartTimeout bounds how long a verb waits for a daemon to answer
// once it is started, and how long it waits for another verb starting one.
const daemonStartTimeout = 30 * time.Second

// startPoll is how often a starting verb looks for an answer or the lock.
const startPoll = 50 * time.Millisecond

// autostartLockPath is the lock verbs that start a daemon for one data
// directory take in turn, so that of verbs started at once one starts the
// daemon and the others use it.
func autostartLockPath(dataDir string) string { return filepath.Join(dataDir, "autostart.lock") }

// startDaemon makes a daemon answer on c: under the data directory's
// autostart lock it checks again for one (another verb may have started it
// meanwhile), else spawns `quai serve` detached, with the same data
// directory and socket, and waits until it answers. When the spawned daemon
// exits because another daemon holds the data directory (one started by
// hand, still starting), it waits for that one.
func (g *globals) startDaemon(ctx context.Context, c *client.Client) error {
	dir, err := g.dataDir()
	if err != nil {
		return err
	}
	if err := datadir.Prepare(dir, os.Geteuid(), nil); err != nil {
		return err
	}
	unlock, err := lockAutostart(ctx, autostartLockPath(dir))
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := c.Info(ctx); err == nil {
		return nil
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
	tick := time.NewTicker(startPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-exited:
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.ExitCode() == ExitLocked {
				return waitForDaemon(ctx, c, dir)
			}
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

// waitForDaemon waits for the daemon that holds dir, started by someone
// else, to answer on c.
func waitForDaemon(ctx context.Context, c *client.Client, dir string) error {
	deadline := time.NewTimer(daemonStartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(startPoll)
	defer tick.Stop()
	for {
		if _, err := c.Info(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			holder := "another quai daemon"
			if b, err := os.ReadFile(filepath.Join(dir, "quai.pid")); err == nil {
				holder += " (pid " + strings.TrimSpace(string(b)) + ")"
			}
			return fmt.Errorf("%s holds %s but did not answer on %s within %s: see its log, or stop it and run the command again",
				holder, dir, c.Socket(), daemonStartTimeout)
		case <-tick.C:
		}
	}
}

// lockAutostart takes the exclusive lock at path, waiting while another
// verb holds it (bounded: that verb gives up on its daemon after
// daemonStartTimeout). The kernel drops the lock if this process dies.
func lockAutostart(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start the quai daemon: open %s: %w", path, err)
	}
	deadline := time.Now().Add(2 * daemonStartTimeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("start the quai daemon: lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			_ = f.Close()
			return nil, fmt.Errorf("start the quai daemon: another quai command has been starting it for %s (it holds %s); try again", 2*daemonStartTimeout, path)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, ctx.Err()
		case <-time.After(startPoll):
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
