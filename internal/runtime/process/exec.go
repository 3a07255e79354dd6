package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"

	"github.com/quai-dev/quai/internal/runtime"
)

func sysProcAttr(spec *shimSpec) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: spec.Credential.sys()}
}

// Exec implements runtime.Execer: the command runs on the host with the
// replica's environment, working directory and user (database servers'
// system user when the daemon is root). With TTY it gets a pseudo-terminal
// for interactive shells. The replica need not be running, as its
// environment is on disk.
func (r *Runtime) Exec(ctx context.Context, h runtime.Handle, opts runtime.ExecOptions) (int, error) {
	dir, err := r.handleDir(h)
	if err != nil {
		return -1, err
	}
	spec, err := readSpec(dir)
	if err != nil {
		if isNotExist(err) {
			return -1, fmt.Errorf("exec in replica %s of %s: %w", h.Replica, h.Instance, runtime.ErrNotFound)
		}
		return -1, err
	}
	cmd, err := replicaCommand(ctx, spec, opts.Cmd)
	if err != nil {
		return -1, fmt.Errorf("exec in replica %s of %s: %w", h.Replica, h.Instance, err)
	}
	// Cancelling the context kills everything the command started.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	if opts.TTY {
		return execTTY(cmd, spec, opts)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = opts.Stdin, opts.Stdout, opts.Stderr
	return exitStatus(cmd.Run())
}

func execTTY(cmd *exec.Cmd, spec *shimSpec, opts runtime.ExecOptions) (int, error) {
	// pty makes the command a session leader with the terminal as its
	// controlling tty; a session leader leads its own process group.
	// A size already waiting is the terminal's initial size, so the command
	// sees it from its first instruction.
	var size *pty.Winsize
	if opts.Resize != nil {
		select {
		case sz, ok := <-opts.Resize:
			if ok {
				size = &pty.Winsize{Rows: sz.Rows, Cols: sz.Cols}
			}
		default:
		}
	}
	ptmx, err := pty.StartWithAttrs(cmd, size, &syscall.SysProcAttr{Setsid: true, Setctty: true, Credential: spec.Credential.sys()})
	if err != nil {
		return -1, fmt.Errorf("exec with a terminal: %w", err)
	}
	// The resize goroutine uses the terminal: it must have returned before
	// the terminal is closed.
	done := make(chan struct{})
	var resizing sync.WaitGroup
	defer func() {
		close(done)
		resizing.Wait()
		_ = ptmx.Close()
	}()
	if opts.Resize != nil {
		resizing.Add(1)
		go func() {
			defer resizing.Done()
			for {
				select {
				case <-done:
					return
				case sz, ok := <-opts.Resize:
					if !ok {
						return
					}
					_ = pty.Setsize(ptmx, &pty.Winsize{Rows: sz.Rows, Cols: sz.Cols})
				}
			}
		}()
	}
	if opts.Stdin != nil {
		go func() { _, _ = io.Copy(ptmx, opts.Stdin) }()
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		out := opts.Stdout
		if out == nil {
			out = io.Discard
		}
		// Reading the terminal ends with EIO once the command and every
		// process holding the terminal have exited.
		_, _ = io.Copy(out, ptmx)
	}()
	werr := cmd.Wait()
	select {
	case <-copied:
	case <-time.After(time.Second):
	}
	return exitStatus(werr)
}

// exitStatus turns a command's result into (exit code, error): a command
// that ran and failed is not an error, only one that could not run is.
func exitStatus(err error) (int, error) {
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	if errors.Is(err, os.ErrNotExist) {
		return 127, err
	}
	return -1, err
}
