package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/quai-dev/quai/internal/datadir"
	"github.com/quai-dev/quai/internal/fsutil"
)

// ErrLocked: another daemon uses the data directory.
var ErrLocked = datadir.ErrLocked

// dirLock is an exclusive lock on a data directory, held for the daemon's
// lifetime. The kernel drops a flock when its holder dies, so a crashed
// daemon never leaves the directory locked.
type dirLock struct {
	f       *os.File
	pidPath string
}

func lockDataDir(dataDir string) (*dirLock, error) {
	path := filepath.Join(dataDir, "daemon.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	pidPath := filepath.Join(dataDir, "quai.pid")
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if b, rerr := os.ReadFile(pidPath); rerr == nil {
				holder = "pid " + strings.TrimSpace(string(b))
			}
			return nil, fmt.Errorf("%w: %s (%s); stop it, or use another --data-dir", ErrLocked, dataDir, holder)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := fsutil.WriteFile(pidPath, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		_ = f.Close()
		return nil, err
	}
	return &dirLock{f: f, pidPath: pidPath}, nil
}

func (l *dirLock) release() error {
	rmErr := os.Remove(l.pidPath)
	if errors.Is(rmErr, os.ErrNotExist) {
		rmErr = nil
	}
	return errors.Join(rmErr, l.f.Close())
}
