package kube

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/quai-dev/quai/internal/fsutil"
	"github.com/quai-dev/quai/internal/runtime"
)

// CopyFrom implements runtime.PathCopier by running tar in the pod (as
// kubectl cp does), so the image needs tar; entries are renamed relative to
// the directory.
func (r *Runtime) CopyFrom(ctx context.Context, h runtime.Handle, p string, w io.Writer) error {
	p = path.Clean(p)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := fsutil.RewriteTar(pr, w, func(name string) (string, bool) {
			rel, err := fsutil.CleanTarName(name)
			return rel, err == nil && rel != ""
		})
		_ = pr.CloseWithError(err)
		done <- err
	}()
	err := r.tar(ctx, h, "read", p, []string{"tar", "-C", p, "-cf", "-", "."}, nil, pw)
	_ = pw.CloseWithError(err)
	if rerr := <-done; err == nil && rerr != nil {
		err = fmt.Errorf("read %s of replica %s: %w", p, h.Replica, rerr)
	}
	return err
}

// CopyTo implements runtime.PathCopier by running tar in the pod, which
// needs tar and a shell in the image. Owners are the stream's when the
// container runs as root, its user's otherwise.
func (r *Runtime) CopyTo(ctx context.Context, h runtime.Handle, p string, rd io.Reader) error {
	p = path.Clean(p)
	return r.tar(ctx, h, "write", p, []string{"sh", "-c", `mkdir -p "$1" && exec tar -C "$1" -xf -`, "sh", p}, rd, io.Discard)
}

func (r *Runtime) tar(ctx context.Context, h runtime.Handle, what, p string, cmd []string, stdin io.Reader, stdout io.Writer) error {
	var stderr bytes.Buffer
	code, err := r.Exec(ctx, h, runtime.ExecOptions{Cmd: cmd, Stdin: stdin, Stdout: stdout, Stderr: &stderr})
	if err != nil {
		return fmt.Errorf("%s %s of replica %s (files are copied by tar in the pod: the image needs tar and sh): %w", what, p, h.Replica, err)
	}
	if code != 0 {
		return fmt.Errorf("%s %s of replica %s: tar in the pod exited with status %d (the image needs tar and sh): %s",
			what, p, h.Replica, code, strings.TrimSpace(string(stderr.Bytes()[:min(stderr.Len(), 4096)])))
	}
	return nil
}

// HostPath implements runtime.PathCopier: a pod's files are on a node, not
// on the daemon's host.
func (r *Runtime) HostPath(context.Context, runtime.Handle, string) (string, bool) { return "", false }

var _ runtime.PathCopier = (*Runtime)(nil)
