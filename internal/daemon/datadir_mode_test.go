package daemon_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/datadir"
)

// The data directory and the files holding secrets are private whatever
// the umask, and a directory or database an older quai left readable by
// others is tightened at start.
func TestDataDirAndStateArePrivateWhateverTheUmask(t *testing.T) {
	for _, existing := range []os.FileMode{0, 0o755} {
		t.Run(existing.String(), func(t *testing.T) {
			old := syscall.Umask(0)
			t.Cleanup(func() { syscall.Umask(old) })
			dir := filepath.Join(t.TempDir(), "quai")
			if existing != 0 {
				if err := os.Mkdir(dir, existing); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(datadir.StorePath(dir), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// The running daemon's store has its -wal and -shm files in place.
			daemontest.Start(t, daemontest.Options{DataDir: dir})
			want := map[string]os.FileMode{
				dir:                             datadir.Mode(os.Geteuid()),
				datadir.StorePath(dir):          0o600,
				datadir.StorePath(dir) + "-wal": 0o600,
				datadir.StorePath(dir) + "-shm": 0o600,
				datadir.MasterKeyPath(dir):      0o600,
			}
			for path, mode := range want {
				fi, err := os.Stat(path)
				if err != nil {
					t.Error(err)
					continue
				}
				if fi.Mode().Perm() != mode {
					t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), mode)
				}
			}
			if m := datadir.Mode(os.Geteuid()); m&0o044 != 0 || os.Geteuid() != 0 && m != 0o700 {
				t.Errorf("data directory mode %v lets others list it", m)
			}
		})
	}
}
