package process

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/quai-dev/quai/internal/fsutil"
	"github.com/quai-dev/quai/internal/runtime"
)

// HostPath implements runtime.PathCopier: a path under a volume's or tmpfs'
// target is under the host directory that stands in for it; any other path
// is the host's own, as the replica sees the host's file system. The
// replica need not be running.
func (r *Runtime) HostPath(_ context.Context, h runtime.Handle, p string) (string, bool) {
	dir, err := r.handleDir(h)
	if err != nil {
		return "", false
	}
	spec, err := readSpec(dir)
	if err != nil || !path.IsAbs(p) {
		return "", false
	}
	return hostPath(spec.Mounts, path.Clean(p)), true
}

// hostPath maps p through the longest mount target it is under.
// Targets are cleaned first: a stack may write one with a trailing slash.
func hostPath(mounts map[string]string, p string) string {
	best, host := "", p
	for target, dir := range mounts {
		t := path.Clean(target)
		if (p == t || strings.HasPrefix(p, t+"/")) && len(t) > len(best) {
			best, host = t, dir+strings.TrimPrefix(p, t)
		}
	}
	return host
}

// CopyFrom implements runtime.PathCopier by reading the host directory
// that holds path.
func (r *Runtime) CopyFrom(ctx context.Context, h runtime.Handle, p string, w io.Writer) error {
	host, ok := r.HostPath(ctx, h, p)
	if !ok {
		return fmt.Errorf("read %s of replica %s of %s: %w", p, h.Replica, h.Instance, runtime.ErrNotFound)
	}
	if err := fsutil.WriteTar(w, host); err != nil {
		return fmt.Errorf("read %s of replica %s of %s (%s on the host): %w", p, h.Replica, h.Instance, host, err)
	}
	return nil
}

// CopyTo implements runtime.PathCopier by extracting into the host
// directory that holds path. Files get the owners the stream names when the
// daemon runs as root, so a database's own user can still read them.
func (r *Runtime) CopyTo(ctx context.Context, h runtime.Handle, p string, rd io.Reader) error {
	host, ok := r.HostPath(ctx, h, p)
	if !ok {
		return fmt.Errorf("write %s of replica %s of %s: %w", p, h.Replica, h.Instance, runtime.ErrNotFound)
	}
	if err := fsutil.ExtractTar(rd, host); err != nil {
		return fmt.Errorf("write %s of replica %s of %s (%s on the host): %w", p, h.Replica, h.Instance, host, err)
	}
	return nil
}

var _ runtime.PathCopier = (*Runtime)(nil)
