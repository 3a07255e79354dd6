package docker

import (
	"context"
	"fmt"
	"slices"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// Volumes implements runtime.VolumeManager: the instance's named volumes,
// by their engine names (quai-<slug>-<name>).
func (r *Runtime) Volumes(ctx context.Context, id stack.Identity) ([]string, error) {
	res, err := r.cli.VolumeList(ctx, client.VolumeListOptions{Filters: instanceFilter(id)})
	if err != nil {
		return nil, r.wrap("list volumes of "+id.Name(), err)
	}
	out := make([]string, 0, len(res.Items))
	for _, v := range res.Items {
		if sameIdentity(identityOf(v.Labels), id) && r.mine(v.Labels) {
			out = append(out, v.Name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// RemoveVolumes implements runtime.VolumeManager. A volume still used by a
// container is an error naming it: remove the instance's replicas first.
func (r *Runtime) RemoveVolumes(ctx context.Context, id stack.Identity) error {
	names, err := r.Volumes(ctx, id)
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, err := r.cli.VolumeRemove(ctx, n, client.VolumeRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			return r.wrap("remove volume "+n+" of "+id.Name(), err)
		}
	}
	if err := r.removeArchivedLogs(id); err != nil {
		return fmt.Errorf("purge %s: remove its kept logs: %w", id.Name(), err)
	}
	return nil
}

// VolumeSizes implements runtime.VolumeSizer from the engine's disk usage
// report; volumes whose size the engine does not know (a volume driver
// other than local) are left out.
func (r *Runtime) VolumeSizes(ctx context.Context, id stack.Identity) (map[string]int64, error) {
	names, err := r.Volumes(ctx, id)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	du, err := r.cli.DiskUsage(ctx, client.DiskUsageOptions{Volumes: true, Verbose: true})
	if err != nil {
		return nil, r.wrap("measure the volumes of "+id.Name(), err)
	}
	out := map[string]int64{}
	for _, v := range du.Volumes.Items {
		if slices.Contains(names, v.Name) && v.UsageData != nil && v.UsageData.Size >= 0 {
			out[v.Name] = v.UsageData.Size
		}
	}
	return out, nil
}

var _ runtime.VolumeSizer = (*Runtime)(nil)
