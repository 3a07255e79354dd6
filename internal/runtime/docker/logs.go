package docker

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/runtime"
)

// Logs implements runtime.Logger: the container's stdout and stderr,
// demultiplexed into one stream (containers run without a TTY).
func (r *Runtime) Logs(ctx context.Context, h runtime.Handle, opts runtime.LogOptions) (io.ReadCloser, error) {
	c, err := r.inspectReplica(ctx, h)
	if err != nil {
		return nil, err
	}
	lo := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: opts.Follow, Tail: "all"}
	if opts.Tail > 0 {
		lo.Tail = strconv.Itoa(opts.Tail)
	}
	if !opts.Since.IsZero() {
		lo.Since = fmt.Sprintf("%d.%09d", opts.Since.Unix(), opts.Since.Nanosecond())
	}
	rc, err := r.cli.ContainerLogs(ctx, c.ID, lo)
	if err != nil {
		return nil, r.wrap("logs of replica "+h.Replica, err)
	}
	if c.Config != nil && c.Config.Tty {
		return rc, nil
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, rc)
		_ = rc.Close()
		pw.CloseWithError(err)
	}()
	return &logReader{PipeReader: pr, src: rc}, nil
}

// logReader closes the engine's stream with the pipe, so that a follower
// that stops reading ends the request.
type logReader struct {
	*io.PipeReader
	src io.Closer
}

func (l *logReader) Close() error {
	_ = l.src.Close()
	return l.PipeReader.Close()
}
