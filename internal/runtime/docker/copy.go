package docker

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/fsutil"
	"github.com/quai-dev/quai/internal/runtime"
)

// CopyFrom implements runtime.PathCopier through the Engine API's archive
// endpoint, which needs nothing in the image (FROM scratch images have no
// tar) and works on a stopped container too. The engine names the entries
// after the directory ("data/a.txt"); they are renamed relative to it.
func (r *Runtime) CopyFrom(ctx context.Context, h runtime.Handle, p string, w io.Writer) error {
	c, err := r.inspectReplica(ctx, h)
	if err != nil {
		return err
	}
	p = path.Clean(p)
	res, err := r.cli.CopyFromContainer(ctx, c.ID, client.CopyFromContainerOptions{SourcePath: p})
	if err != nil {
		return r.wrap(fmt.Sprintf("read %s of replica %s", p, h.Replica), err)
	}
	defer func() { _ = res.Content.Close() }()
	if !res.Stat.Mode.IsDir() {
		return fmt.Errorf("read %s of replica %s: not a directory", p, h.Replica)
	}
	base := res.Stat.Name
	err = fsutil.RewriteTar(res.Content, w, func(name string) (string, bool) {
		rel, ok := strings.CutPrefix(strings.TrimPrefix(name, "./"), base)
		if !ok || rel != "" && rel[0] != '/' {
			return "", false
		}
		rel = strings.TrimPrefix(rel, "/")
		return rel, rel != ""
	})
	if err != nil {
		return fmt.Errorf("read %s of replica %s: %w", p, h.Replica, err)
	}
	return nil
}

// CopyTo implements runtime.PathCopier through the Engine API's archive
// endpoint, keeping the owners the stream names (a database's files stay
// its user's). The directory must exist in the container, as a mount
// target does.
func (r *Runtime) CopyTo(ctx context.Context, h runtime.Handle, p string, rd io.Reader) error {
	c, err := r.inspectReplica(ctx, h)
	if err != nil {
		return err
	}
	p = path.Clean(p)
	_, err = r.cli.CopyToContainer(ctx, c.ID, client.CopyToContainerOptions{DestinationPath: p, Content: rd, CopyUIDGID: true})
	if err != nil {
		return r.wrap(fmt.Sprintf("write %s of replica %s", p, h.Replica), err)
	}
	return nil
}

// HostPath implements runtime.PathCopier: when the engine is local, a path
// under a local volume's mount is under the volume's directory on the host
// (reading it needs the daemon to run as root, as the engine's files are
// root's).
func (r *Runtime) HostPath(ctx context.Context, h runtime.Handle, p string) (string, bool) {
	if !r.local {
		return "", false
	}
	c, err := r.inspectReplica(ctx, h)
	if err != nil {
		return "", false
	}
	p = path.Clean(p)
	best, host := "", ""
	for _, m := range c.Mounts {
		if m.Type != mount.TypeVolume || m.Driver != "local" || m.Source == "" {
			continue
		}
		d := path.Clean(m.Destination)
		if (p == d || strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/")) && len(d) > len(best) {
			best, host = d, m.Source+strings.TrimPrefix(p, d)
		}
	}
	if best == "" {
		return "", false
	}
	if _, err := os.Stat(host); err != nil {
		return "", false
	}
	return host, true
}

var _ runtime.PathCopier = (*Runtime)(nil)
