package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/runtime"
)

// Exec implements runtime.Execer: the command runs in the container with
// its environment and user; with TTY the output is raw and Resize applies.
func (r *Runtime) Exec(ctx context.Context, h runtime.Handle, opts runtime.ExecOptions) (int, error) {
	if len(opts.Cmd) == 0 {
		return -1, errors.New("exec: no command")
	}
	c, err := r.inspectReplica(ctx, h)
	if err != nil {
		return -1, err
	}
	if c.State == nil || !c.State.Running {
		return -1, fmt.Errorf("exec in replica %s: the container is not running", h.Replica)
	}
	created, err := r.cli.ExecCreate(ctx, c.ID, client.ExecCreateOptions{
		Cmd: opts.Cmd, TTY: opts.TTY, AttachStdin: opts.Stdin != nil, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return -1, r.wrap("exec in replica "+h.Replica, err)
	}
	att, err := r.cli.ExecAttach(ctx, created.ID, client.ExecAttachOptions{TTY: opts.TTY})
	if err != nil {
		return -1, r.wrap("exec in replica "+h.Replica, err)
	}
	defer att.Close()

	stdout, stderr := opts.Stdout, opts.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if opts.Stdin != nil {
		go func() {
			_, _ = io.Copy(att.Conn, opts.Stdin)
			_ = att.CloseWrite()
		}()
	}
	rctx, stopResize := context.WithCancel(ctx)
	defer stopResize()
	if opts.TTY && opts.Resize != nil {
		go func() {
			for {
				select {
				case <-rctx.Done():
					return
				case sz, ok := <-opts.Resize:
					if !ok {
						return
					}
					_, _ = r.cli.ExecResize(rctx, created.ID, client.ExecResizeOptions{Height: uint(sz.Rows), Width: uint(sz.Cols)})
				}
			}
		}()
	}
	outDone := make(chan error, 1)
	go func() {
		var err error
		if opts.TTY {
			_, err = io.Copy(stdout, att.Reader)
		} else {
			_, err = stdcopy.StdCopy(stdout, stderr, att.Reader)
		}
		outDone <- err
	}()
	select {
	case err := <-outDone:
		if err != nil && !errors.Is(err, io.EOF) {
			return -1, fmt.Errorf("exec in replica %s: %w", h.Replica, err)
		}
	case <-ctx.Done():
		return -1, ctx.Err()
	}
	// The output ends before the engine records the exit code.
	for {
		ins, err := r.cli.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
		if err != nil {
			return -1, r.wrap("exec in replica "+h.Replica, err)
		}
		if !ins.Running {
			return ins.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
