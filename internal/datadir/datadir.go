// Package datadir says where quai keeps its state: the data directory and
// the daemon's socket, log and store inside it. The daemon and the CLI (which
// finds and starts the daemon) both need it, so it is a leaf of its own: it
// imports the standard library only.
package datadir

import (
	"errors"
	"fmt"
	"path/filepath"
)

// ErrUnresolved: no data directory could be chosen.
var ErrUnresolved = errors.New("no data directory")

// System is the data directory of a daemon run as root without
// QUAI_DATA_DIR or XDG_DATA_HOME.
const System = "/var/lib/quai"

// Mode is the mode a new data directory is created with.
const Mode = 0o711

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
