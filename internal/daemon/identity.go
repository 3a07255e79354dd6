package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// IdentityPath is the file holding the daemon identity of a data directory.
func IdentityPath(dataDir string) string { return filepath.Join(dataDir, "daemon.id") }

// daemonID returns the identity of the data directory's daemon, creating
// it on first use. It labels what the daemon creates on shared engines
// (runtime.LabelDaemon), so that two daemons on one Docker Engine clean up
// and prune only their own: it must stay the same for the life of the data
// directory, so it is random, written once, and never rewritten.
func daemonID(dataDir string) (string, error) {
	path := IdentityPath(dataDir)
	if id, err := readDaemonID(path); err == nil || !errors.Is(err, os.ErrNotExist) {
		return id, err
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	// Written whole under a temporary name, then linked into place: a
	// reader never sees half an identity, and of two creators the second
	// fails to link and reads the first one's.
	tmp, err := os.CreateTemp(dataDir, ".daemon.id-*")
	if err != nil {
		return "", fmt.Errorf("create the daemon identity %s: %w", path, err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	_, werr := tmp.WriteString(id + "\n")
	if err := errors.Join(werr, tmp.Sync(), tmp.Close()); err != nil {
		return "", fmt.Errorf("create the daemon identity %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, os.ErrExist) {
		return readDaemonID(path)
	} else if err != nil {
		return "", fmt.Errorf("create the daemon identity %s: %w", path, err)
	}
	return id, nil
}

func readDaemonID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(b))
	if id == "" || strings.ContainsAny(id, " \t\n=,") {
		return "", fmt.Errorf("daemon identity %s is empty or malformed; it labels this daemon's containers, networks and images on shared engines: restore it, or remove it to get a new one (orphans left under the old one are then another daemon's)", path)
	}
	return id, nil
}
