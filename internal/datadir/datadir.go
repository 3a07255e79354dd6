// Package datadir says where quai keeps its state: the data directory (and
// its mode: nobody else may list it) and the daemon's socket, log, store,
// master key and age keys inside it. The daemon and the CLI (which
// finds and starts the daemon) both need it, so it is a leaf of its own: it
// imports the standard library only.
package datadir

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
)

// Errors, wrapped with %w.
var (
	// ErrUnresolved: no data directory could be chosen.
	ErrUnresolved = errors.New("no data directory")
	// ErrLocked: another daemon uses the data directory. `quai serve` exits
	// with its own code for it, so a verb that started that serve waits for
	// the other daemon instead of failing.
	ErrLocked = errors.New("data directory in use by another quai daemon")
)

// System is the data directory of a daemon run as root without
// QUAI_DATA_DIR or XDG_DATA_HOME.
const System = "/var/lib/quai"

// Resolve chooses quai's data directory: the --data-dir flag, else
// $QUAI_DATA_DIR, else $XDG_DATA_HOME/quai, else /var/lib/quai for root,
// else $HOME/.local/share/quai (XDG's default). getenv and euid are passed
// in so the choice is testable; the result is absolute.
func Resolve(flag string, getenv func(string) string, euid int) (string, error) {
	dir := flag
	switch {
	case dir != "":
	case getenv("QUAI_DATA_DIR") != "":
		dir = getenv("QUAI_DATA_DIR")
	case getenv("XDG_DATA_HOME") != "":
		dir = filepath.Join(getenv("XDG_DATA_HOME"), "quai")
	case euid == 0:
		dir = System
	case getenv("HOME") != "":
		dir = filepath.Join(getenv("HOME"), ".local", "share", "quai")
	default:
		return "", fmt.Errorf("%w: set --data-dir or QUAI_DATA_DIR", ErrUnresolved)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("data directory %s: %w", dir, err)
	}
	return abs, nil
}

// SocketPath is where the daemon of dataDir listens.
func SocketPath(dataDir string) string { return filepath.Join(dataDir, "quai.sock") }

// LogPath is where a daemon started in the background writes its log.
func LogPath(dataDir string) string { return filepath.Join(dataDir, "daemon.log") }

// StorePath is the daemon's state database.
func StorePath(dataDir string) string { return filepath.Join(dataDir, "state.db") }

// MasterKeyPath is the host's master key, which seals the secret values the
// store keeps.
func MasterKeyPath(dataDir string) string { return filepath.Join(dataDir, "master.key") }

// KeysDir holds the daemon's age keys (one per org and environment and
// generation), each sealed with the master key.
func KeysDir(dataDir string) string { return filepath.Join(dataDir, "keys") }

// Mode is the data directory's mode for a daemon of effective user euid: nobody else may list or read it. A root daemon keeps the search bit
// for others (never a read bit): the process runtime runs PostgreSQL and
// MariaDB as their own system users (postgres, mysql) with their data below
// it (DATA_DIR/process/instances/...), which they reach only if they may
// enter every directory on the way. What is private below keeps its own
// mode: the store's files, the master key and the socket are 0600.
func Mode(euid int) os.FileMode {
	if euid == 0 {
		return 0o711
	}
	return 0o700
}

// Prepare creates the data directory with Mode(euid), whatever
// the umask, and gives an existing one that mode, logging the change to log
// (which may be nil): a directory an older quai left listable is tightened.
func Prepare(dir string, euid int, log *slog.Logger) error {
	mode := Mode(euid)
	if err := os.MkdirAll(dir, mode); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if old := fi.Mode().Perm(); old != mode {
		if err := os.Chmod(dir, mode); err != nil {
			return fmt.Errorf("set the mode of data directory %s to %v: %w", dir, mode, err)
		}
		if log != nil {
			log.Warn("changed the data directory's mode", "path", dir, "old_mode", old.String(), "new_mode", mode.String())
		}
	}
	return nil
}

// RunDir is where the daemon of dataDir puts what replicas receive but
// must not outlive the machine or reach a backup of the data directory:
// their secret files and secret environment values. It is memory-backed
// where the system offers it: $XDG_RUNTIME_DIR/quai-<hash>, else
// /dev/shm/quai-<uid>-<hash>, else a directory of os.TempDir(); <hash>
// names the data directory, so two daemons never share one. Callers create
// it with mode 0700 (MkdirRun).
func RunDir(dataDir string, getenv func(string) string, euid int) string {
	sum := sha256.Sum256([]byte(filepath.Clean(dataDir)))
	h := hex.EncodeToString(sum[:])[:12]
	if x := getenv("XDG_RUNTIME_DIR"); x != "" && filepath.IsAbs(x) && isDir(x) {
		return filepath.Join(x, "quai-"+h)
	}
	if isDir("/dev/shm") {
		return filepath.Join("/dev/shm", fmt.Sprintf("quai-%d-%s", euid, h))
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("quai-%d-%s", euid, h))
}

// MkdirRun creates the RunDir dir with mode (0700, or 0711 for a daemon
// whose replicas run as other users and must pass through it), adds
// mode's bits to an existing one, and refuses
// a directory that another user owns or others may list or write: in a
// shared /dev/shm anyone could have made it first.
func MkdirRun(dir string, mode os.FileMode) error {
	if err := os.Mkdir(dir, mode); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || fi.Mode().Perm()&0o066 != 0 || (ok && int(st.Uid) != os.Geteuid()) {
		return fmt.Errorf("run directory %s is not a private directory of this user (mode %v): remove it and try again", dir, fi.Mode())
	}
	// A directory made 0700 for one replica opens its search bits for a
	// replica of another user.
	if want := fi.Mode().Perm() | mode.Perm(); want != fi.Mode().Perm() {
		return os.Chmod(dir, want)
	}
	return nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
