package process

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// Volumes implements runtime.VolumeManager: the directories under
// DataDir/instances/<slug>/volumes, including database data directories.
func (r *Runtime) Volumes(_ context.Context, id stack.Identity) ([]string, error) {
	inst, err := r.instanceDir(id)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(filepath.Join(inst, "volumes"))
	if err != nil {
		if isNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// RemoveVolumes implements runtime.VolumeManager for a purge: it deletes
// the whole instance directory, its volumes and database data and every
// replica directory in it, including ones no handle names (a start a crash
// interrupted); a supervisor still running there is killed with its app.
// Read-only directories are made writable to empty them. Every path that
// could not be removed is in the error, and nothing is reported removed
// then.
func (r *Runtime) RemoveVolumes(ctx context.Context, id stack.Identity) error {
	inst, err := r.instanceDir(id)
	if err != nil {
		return err
	}
	replicas := filepath.Join(inst, "replicas")
	ents, _ := os.ReadDir(replicas)
	for _, e := range ents {
		dir := filepath.Join(replicas, e.Name())
		r.unwatch(dir)
		if st, err := readState(dir); err == nil && alive(st.ShimPid, st.ShimStart) {
			_ = syscall.Kill(st.ShimPid, syscall.SIGKILL)
			stopOrphan(ctx, st, syscall.SIGKILL, 0)
		}
		spec, _ := readSpec(dir)
		if spec != nil {
			r.removeCleanup(spec)
		}
		r.forget(dir, spec)
	}
	if errs := removeTree(inst); len(errs) > 0 {
		return fmt.Errorf("purge %s: %d paths in %s could not be removed (remove them by hand, e.g. after chattr -i or umount, then purge again): %w",
			id, len(errs), inst, errors.Join(errs...))
	}
	return nil
}

// removeTree removes root and everything under it, and returns an error for
// each path it could not remove. Unlike os.RemoveAll it goes on after a
// failure, and makes read-only directories writable to empty them.
func removeTree(root string) []error {
	if err := os.RemoveAll(root); err == nil {
		return nil
	}
	var errs []error
	var remove func(p string) bool
	remove = func(p string) bool {
		fi, err := os.Lstat(p)
		if isNotExist(err) {
			return true
		}
		if err != nil {
			errs = append(errs, err)
			return false
		}
		if fi.IsDir() {
			if perm := fi.Mode().Perm(); perm&0o700 != 0o700 {
				_ = os.Chmod(p, perm|0o700)
			}
			ents, err := os.ReadDir(p)
			if err != nil {
				errs = append(errs, err)
				return false
			}
			emptied := true
			for _, e := range ents {
				emptied = remove(filepath.Join(p, e.Name())) && emptied
			}
			if !emptied {
				return false // what it holds is reported, not the directory
			}
		}
		if err := os.Remove(p); err != nil && !isNotExist(err) {
			errs = append(errs, err)
			return false
		}
		return true
	}
	remove(root)
	return errs
}

// VolumeSizes implements runtime.VolumeSizer: the bytes of the regular
// files under each volume directory (links are not followed).
func (r *Runtime) VolumeSizes(ctx context.Context, id stack.Identity) (map[string]int64, error) {
	names, err := r.Volumes(ctx, id)
	if err != nil {
		return nil, err
	}
	inst, err := r.instanceDir(id)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(names))
	for _, n := range names {
		var size int64
		err := filepath.WalkDir(filepath.Join(inst, "volumes", n), func(_ string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil //nolint:nilerr // an unreadable entry is left out of the sum, not a failure
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					size += fi.Size()
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		out[n] = size
	}
	return out, nil
}

var _ runtime.VolumeSizer = (*Runtime)(nil)
