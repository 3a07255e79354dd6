package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/quai-dev/quai/internal/wire"
)

// ExecOptions describe a command to run in one replica of a service.
type ExecOptions struct {
	Service string
	Cmd     []string
	TTY     bool
	// Stdin is attached when not nil; its EOF closes the command's stdin.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Size is the terminal's initial size (TTY only); Resize delivers changes.
	Size   *wire.TermSize
	Resize <-chan wire.TermSize
}

// Exec runs a command in a replica of the service and returns its exit code.
// The connection is upgraded to the API's frame protocol (see wire.ExecUpgrade).
func (c *Client) Exec(ctx context.Context, instance string, opts ExecOptions) (int, error) {
	q := url.Values{}
	q.Set(wire.ExecService, opts.Service)
	for _, a := range opts.Cmd {
		q.Add(wire.ExecCmd, a)
	}
	if opts.TTY {
		q.Set(wire.ExecTTY, "true")
		if opts.Size != nil {
			q.Set(wire.ExecRows, strconv.Itoa(int(opts.Size.Rows)))
			q.Set(wire.ExecCols, strconv.Itoa(int(opts.Size.Cols)))
		}
	}
	if opts.Stdin != nil {
		q.Set(wire.ExecStdin, "true")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+instancePath(instance, "/exec")+"?"+q.Encode(), nil)
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", wire.ExecUpgrade)
	c.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, c.transportError(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer func() { _ = resp.Body.Close() }()
		if resp.StatusCode < 300 {
			return 0, fmt.Errorf("exec: the daemon answered %s instead of switching protocols", resp.Status)
		}
		return 0, c.remoteHint(decodeError(resp))
	}
	conn, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		_ = resp.Body.Close()
		return 0, errors.New("exec: the upgraded connection is not writable")
	}
	defer func() { _ = conn.Close() }()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	var mu sync.Mutex
	send := func(t wire.FrameType, p []byte) error {
		mu.Lock()
		defer mu.Unlock()
		return wire.WriteFrame(conn, t, p)
	}
	done := make(chan struct{})
	defer close(done)
	if opts.Stdin != nil {
		pumped := make(chan struct{})
		go func() {
			defer close(pumped)
			w := &wire.FrameWriter{Mu: &mu, W: conn, Type: wire.FrameStdin}
			if _, err := io.Copy(w, opts.Stdin); err != nil {
				return
			}
			_ = send(wire.FrameStdinEOF, nil)
		}()
		// The pump must not outlive the command: left blocked in a read of a
		// terminal, it would swallow what the user types next. Readers with
		// deadlines (terminals, pipes) are interrupted; others end with the
		// process.
		defer func() {
			_ = conn.Close()
			if d, ok := opts.Stdin.(interface{ SetReadDeadline(time.Time) error }); ok && d.SetReadDeadline(time.Now()) == nil {
				// A file switched to blocking mode (os.File.Fd) accepts the
				// deadline but ignores it: do not wait for it forever.
				select {
				case <-pumped:
				case <-time.After(time.Second):
				}
				_ = d.SetReadDeadline(time.Time{})
			}
		}()
	}
	if opts.Resize != nil {
		go func() {
			for {
				select {
				case <-done:
					return
				case sz, ok := <-opts.Resize:
					if !ok {
						return
					}
					if send(wire.FrameResize, wire.ResizePayload(sz.Rows, sz.Cols)) != nil {
						return
					}
				}
			}
		}()
	}
	stdout, stderr := opts.Stdout, opts.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	for {
		t, p, err := wire.ReadFrame(conn)
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, fmt.Errorf("exec: the connection to the daemon broke before the command ended: %w", err)
		}
		switch t {
		case wire.FrameStdout:
			if _, err := stdout.Write(p); err != nil {
				return 0, fmt.Errorf("exec: write output: %w", err)
			}
		case wire.FrameStderr:
			if _, err := stderr.Write(p); err != nil {
				return 0, fmt.Errorf("exec: write output: %w", err)
			}
		case wire.FrameExit:
			code, ok := wire.ParseExit(p)
			if !ok {
				return 0, errors.New("exec: malformed exit frame from the daemon")
			}
			return code, nil
		case wire.FrameError:
			return 0, fmt.Errorf("exec in %s/%s: %s", instance, opts.Service, p)
		}
	}
}
