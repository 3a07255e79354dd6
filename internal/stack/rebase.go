package stack

import (
	"fmt"
	"path/filepath"
)

// Rebase moves the model to the project directory dir: a copy of the
// project at m.Dir, such as a folder a remote `quai up` uploaded to the
// daemon. Every path inside the old directory (build contexts, bind mount
// sources, secret files, process working directories) is moved along;
// paths outside it (x-quai.allow_host_paths) stay as they are, naming the
// daemon's machine. Hashes are relative to the directory and do not change.
// It returns an error for a relative dir.
func (m *Model) Rebase(dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("rebase the stack onto %s: not an absolute path", dir)
	}
	old := m.Dir
	move := func(p string) string {
		if !filepath.IsAbs(p) || old == "" {
			return p
		}
		r := relTo(old, p)
		if filepath.IsAbs(r) {
			return p
		}
		return filepath.Join(dir, filepath.FromSlash(r))
	}
	for _, s := range m.Services {
		if s.Build != nil {
			s.Build.Context = move(s.Build.Context)
		}
		for i := range s.Mounts {
			if s.Mounts[i].Type == MountBind {
				s.Mounts[i].Source = move(s.Mounts[i].Source)
			}
		}
		if s.Process != nil {
			s.Process.Dir = move(s.Process.Dir)
		}
	}
	for i := range m.Secrets {
		m.Secrets[i].File = move(m.Secrets[i].File)
	}
	m.Dir = dir
	return nil
}
