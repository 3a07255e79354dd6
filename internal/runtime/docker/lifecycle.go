package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/fsutil"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// Stop implements runtime.Runtime: the engine sends the image's stop
// signal (SIGTERM unless the image says otherwise), waits grace, then
// kills. A stopped replica stays stopped: Docker does not apply the restart
// policy to a container stopped through the API.
func (r *Runtime) Stop(ctx context.Context, h runtime.Handle, grace time.Duration) error {
	c, err := r.inspectReplica(ctx, h)
	if err != nil {
		return err
	}
	r.unwatch(c.ID)
	if err := r.markStopped(c.ID); err != nil {
		return fmt.Errorf("replica %s: %w", h.Replica, err)
	}
	secs := int(math.Ceil(grace.Seconds()))
	// The API call outlives the grace period by the time the engine needs
	// to kill and reap.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace+30*time.Second)
	defer cancel()
	if _, err := r.cli.ContainerStop(sctx, c.ID, client.ContainerStopOptions{Timeout: &secs}); err != nil && !cerrdefs.IsNotFound(err) {
		return r.wrap("stop replica "+h.Replica, err)
	}
	return nil
}

// Remove implements runtime.Runtime: the container (killed if running) and
// its secret files go; volumes stay. The instance network goes with the
// instance's last container. Removing a replica that is gone is not an error.
func (r *Runtime) Remove(ctx context.Context, h runtime.Handle) error {
	c, err := r.inspectReplica(ctx, h)
	switch {
	case errors.Is(err, runtime.ErrNotFound):
	case err != nil:
		return err
	default:
		r.unwatch(c.ID)
		r.archiveLogs(ctx, h, c.ID, c.Config != nil && c.Config.Tty)
		if _, err := r.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return r.wrap("remove replica "+h.Replica, err)
		}
	}
	r.forget(h.ID)
	if err := os.RemoveAll(r.secretsDir(h.Instance, h.Replica)); err != nil {
		return fmt.Errorf("replica %s: remove its secrets: %w", h.Replica, err)
	}
	return r.removeNetworkIfUnused(ctx, h.Instance)
}

// forget drops what the runtime remembers about a container.
func (r *Runtime) forget(id string) {
	r.mu.Lock()
	delete(r.cpu, id)
	r.mu.Unlock()
	if id != "" {
		_ = os.Remove(r.stoppedMarker(id))
	}
}

// removeNetworkIfUnused removes the instance network once no container of
// the instance is left.
func (r *Runtime) removeNetworkIfUnused(ctx context.Context, id stack.Identity) error {
	l := r.instanceLock(id.Slug())
	l.Lock()
	defer l.Unlock()
	list, err := r.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: instanceFilter(id)})
	if err != nil {
		return r.wrap("list containers of "+id.Name(), err)
	}
	if len(list.Items) > 0 {
		return nil
	}
	_, err = r.cli.NetworkRemove(ctx, networkName(id), client.NetworkRemoveOptions{})
	if err != nil && !cerrdefs.IsNotFound(err) {
		// Something outside quai joined the network; leave it.
		r.log.Warn("keep instance network", "network", networkName(id), "err", err)
	}
	return nil
}

// stopped markers record that a container was stopped on request, which
// the engine does not report (an exited container looks the same).
func (r *Runtime) stoppedMarker(id string) string {
	return filepath.Join(r.opts.StateDir, "stopped", filepath.Base(id))
}

func (r *Runtime) markStopped(id string) error {
	if err := os.MkdirAll(filepath.Join(r.opts.StateDir, "stopped"), 0o700); err != nil {
		return err
	}
	return fsutil.WriteFile(r.stoppedMarker(id), nil, 0o600)
}

func (r *Runtime) wasStopped(id string) bool {
	_, err := os.Stat(r.stoppedMarker(id))
	return err == nil
}

// List implements runtime.Runtime: every container labelled with the
// instance, whatever its state.
func (r *Runtime) List(ctx context.Context, id stack.Identity) ([]runtime.Handle, error) {
	list, err := r.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: instanceFilter(id)})
	if err != nil {
		return nil, r.wrap("list replicas of "+id.Name(), err)
	}
	out := make([]runtime.Handle, 0, len(list.Items))
	for _, c := range list.Items {
		if !sameIdentity(identityOf(c.Labels), id) || !r.mine(c.Labels) {
			continue
		}
		out = append(out, handleOf(c))
	}
	slices.SortFunc(out, func(a, b runtime.Handle) int {
		if a.Replica < b.Replica {
			return -1
		} else if a.Replica > b.Replica {
			return 1
		}
		return 0
	})
	return out, nil
}

// handleOf rebuilds a replica's handle from its container's labels.
func handleOf(c container.Summary) runtime.Handle {
	l := c.Labels
	rel, _ := strconv.Atoi(l[runtime.LabelRelease])
	data, _ := json.Marshal(HandleData{Container: c.ID, Image: c.Image, ImageID: c.ImageID})
	return runtime.Handle{
		Version: runtime.HandleVersion, Runtime: Name, Instance: identityOf(l), Service: l[runtime.LabelService],
		Replica: l[runtime.LabelReplica], Release: rel, Hash: l[runtime.LabelHash], ID: c.ID, Address: l[LabelAddress], Data: data,
	}
}

// Reattach implements runtime.Runtime: the container must exist and carry
// the handle's labels; the runtime resumes its HTTP health checks. The
// engine keeps applying the restart policy whether quai runs or not.
func (r *Runtime) Reattach(ctx context.Context, h runtime.Handle) error {
	c, err := r.inspectReplica(ctx, h)
	if err != nil {
		return err
	}
	if path := c.Config.Labels[LabelHealthPath]; path != "" && c.Config.Labels[LabelAddress] != "" && c.State != nil && c.State.Running {
		start, err := time.ParseDuration(c.Config.Labels[LabelHealthStart])
		if err != nil {
			start = defaultHealthStart
		}
		r.watch(c.ID, c.Config.Labels[LabelAddress], path, start)
	}
	return nil
}

// Orphans are what a crash can leave behind: containers created but never
// started (the daemon died between create and start) or dead, instance
// networks without containers, and secret directories without a
// container. Volumes are never orphans: they hold data. Only what carries
// the daemon's identity (Options.DaemonID) can be an orphan: another
// daemon sharing the engine may be about to start the container it just
// created.
type Orphans struct {
	Containers []string `json:"containers,omitempty"`
	Networks   []string `json:"networks,omitempty"`
	SecretDirs []string `json:"secret_dirs,omitempty"`
}

// Recorded is what the daemon's store holds a record of, which is never an
// orphan: the containers of recorded replicas (by id) and the instances
// (by stack.Identity.Slug), whose networks stay.
type Recorded struct {
	Containers map[string]bool
	Instances  map[string]bool
}

// Orphans lists what CleanOrphans would remove.
func (r *Runtime) Orphans(ctx context.Context, rec Recorded) (Orphans, error) {
	o, _, err := r.orphans(ctx, rec)
	return o, err
}

// CleanOrphans removes the orphans and returns what it removed. Call it
// when no Start of this daemon runs (when the daemon starts): a replica
// being started looks like an orphan between container create and start.
func (r *Runtime) CleanOrphans(ctx context.Context, rec Recorded) (Orphans, error) {
	o, ids, err := r.orphans(ctx, rec)
	if err != nil {
		return Orphans{}, err
	}
	var done Orphans
	for i, name := range o.Containers {
		if _, err := r.cli.ContainerRemove(ctx, ids[i], client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return done, r.wrap("remove orphan container "+name, err)
		}
		r.forget(ids[i])
		done.Containers = append(done.Containers, name)
	}
	for _, n := range o.Networks {
		if _, err := r.cli.NetworkRemove(ctx, n, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			r.log.Warn("keep orphan network", "network", n, "err", err)
			continue
		}
		done.Networks = append(done.Networks, n)
	}
	for _, d := range o.SecretDirs {
		if err := os.RemoveAll(d); err != nil {
			return done, fmt.Errorf("remove orphan secrets %s: %w", d, err)
		}
		done.SecretDirs = append(done.SecretDirs, d)
	}
	return done, nil
}

func (r *Runtime) orphans(ctx context.Context, rec Recorded) (Orphans, []string, error) {
	var o Orphans
	var ids []string
	// Every quai container counts for which networks and secret files are
	// in use, whoever made it; only the daemon's own can be orphans.
	list, err := r.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: managedFilter()})
	if err != nil {
		return o, nil, r.wrap("list containers", err)
	}
	used := map[string]bool{}     // networks with a container
	replicas := map[string]bool{} // slug/replica with a container
	for _, c := range list.Items {
		id := identityOf(c.Labels)
		own := c.Labels[runtime.LabelDaemon] == r.daemonID
		switch container.ContainerState(c.State) {
		case container.StateCreated, container.StateDead:
			if own && !rec.Containers[c.ID] {
				o.Containers = append(o.Containers, containerName(id, c.Labels[runtime.LabelReplica]))
				ids = append(ids, c.ID)
				continue
			}
		}
		used[networkName(id)] = true
		replicas[filepath.Join(id.Slug(), c.Labels[runtime.LabelReplica])] = true
	}
	nets, err := r.cli.NetworkList(ctx, client.NetworkListOptions{Filters: r.ownFilter()})
	if err != nil {
		return o, nil, r.wrap("list networks", err)
	}
	for _, n := range nets.Items {
		if !used[n.Name] && !rec.Instances[identityOf(n.Labels).Slug()] {
			o.Networks = append(o.Networks, n.Name)
		}
	}
	root := r.secretsRoot()
	slugs, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return o, nil, err
	}
	for _, s := range slugs {
		reps, err := os.ReadDir(filepath.Join(root, s.Name()))
		if err != nil {
			continue
		}
		for _, rep := range reps {
			if !replicas[filepath.Join(s.Name(), rep.Name())] {
				o.SecretDirs = append(o.SecretDirs, filepath.Join(root, s.Name(), rep.Name()))
			}
		}
	}
	slices.Sort(o.Networks)
	return o, ids, nil
}
