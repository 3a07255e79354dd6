package process

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

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

// RemoveVolumes implements runtime.VolumeManager. It deletes every volume of
// the instance; replicas should be removed first.
func (r *Runtime) RemoveVolumes(_ context.Context, id stack.Identity) error {
	inst, err := r.instanceDir(id)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(inst, "volumes")); err != nil {
		return fmt.Errorf("remove volumes of %s: %w", id, err)
	}
	_ = os.Remove(inst)
	return nil
}
