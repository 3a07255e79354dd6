// Package fsutil holds the file-system helpers every part of quai shares. It
// imports nothing of quai, so any package may use it.
package fsutil

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile writes data to path atomically: readers see the old file or the
// new one, never a part, and a crash leaves no truncated file behind. The
// data is synced before the rename so it survives a power loss too.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return place(path, data, perm, os.Rename)
}

// CreateFile writes data to path as WriteFile does, but only if path does
// not exist: it fails with an error wrapping fs.ErrExist otherwise, so of
// concurrent creators exactly one wins and the others can read its file.
func CreateFile(path string, data []byte, perm os.FileMode) error {
	return place(path, data, perm, os.Link)
}

// place writes data to a synced temporary file beside path and puts it at
// path with put (rename replaces, link does not).
func place(path string, data []byte, perm os.FileMode, put func(tmp, path string) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() { _ = os.Remove(tmp) }()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = put(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
