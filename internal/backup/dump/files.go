package dump

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/quai-dev/quai/internal/fsutil"
	"github.com/quai-dev/quai/internal/stack"
)

// paxRoot is the PAX record that marks the entry of a backed-up path's
// root directory in a files backup, with the path as its value, so that a
// restore knows where each path's files go without the stack.
const paxRoot = "QUAI.path"

// files backs up directories of the service (x-quai.backup.paths, else its
// volumes' and bind mounts' targets) as one tar stream: for each path a
// root entry (marked with paxRoot), then its files named by their full
// path without the leading slash ("var/www/html/index.php").
type files struct {
	svc      string
	paths    []string
	fs       PathAccess
	recorded Facts
}

func newFiles(svc *stack.Service, fs PathAccess) *files {
	var paths []string
	if svc.Backup != nil {
		paths = svc.Backup.Paths
	}
	if len(paths) == 0 {
		for _, m := range svc.Mounts {
			if m.Type == stack.MountVolume || m.Type == stack.MountBind {
				paths = append(paths, m.Target)
			}
		}
	}
	clean := make([]string, 0, len(paths))
	for _, p := range paths {
		clean = append(clean, path.Clean("/"+p))
	}
	slices.Sort(clean)
	return &files{svc: svc.Name, paths: slices.Compact(clean), fs: fs}
}

// Recorded implements Recorder: the SHA-256 of every regular file of the
// last Dump, computed as it streamed.
func (f *files) Recorded() Facts { return f.recorded }

// entries reads every path as a tar stream: start is called with the path
// (if not nil), then fn with each entry under it, named relative to it,
// whose content r holds.
func (f *files) entries(ctx context.Context, start func(p string) error, fn func(p, rel string, hdr *tar.Header, r io.Reader) error) error {
	if len(f.paths) == 0 {
		return fmt.Errorf("service %s has no paths to back up: list them in x-quai.backup.paths or mount a volume", f.svc)
	}
	for _, p := range f.paths {
		if start != nil {
			if err := start(p); err != nil {
				return err
			}
		}
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			err := eachEntry(tar.NewReader(pr), func(rel string, hdr *tar.Header, r io.Reader) error { return fn(p, rel, hdr, r) })
			// Whatever was left unread is drained, so ReadTar finishes.
			_, _ = io.Copy(io.Discard, pr)
			done <- err
		}()
		err := f.fs.ReadTar(ctx, p, pw)
		_ = pw.CloseWithError(err)
		ferr := <-done
		if err != nil {
			return fmt.Errorf("read %s of service %s: %w", p, f.svc, err)
		}
		if ferr != nil {
			return fmt.Errorf("read %s of service %s: %w", p, f.svc, ferr)
		}
	}
	return nil
}

// eachEntry calls fn with every entry of tr but the root, by its clean
// relative name.
func eachEntry(tr *tar.Reader, fn func(rel string, hdr *tar.Header, r io.Reader) error) error {
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, err := fsutil.CleanTarName(hdr.Name)
		if err != nil {
			return err
		}
		if rel == "" {
			continue
		}
		if err := fn(rel, hdr, tr); err != nil {
			return err
		}
	}
}

// hashTo copies r to w and returns the hex SHA-256 of what it copied.
func hashTo(w io.Writer, r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(w, h), r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Dump implements Dumper: one tar stream of every path, hashing each file
// on the way.
func (f *files) Dump(ctx context.Context, w io.Writer) error {
	tw := tar.NewWriter(w)
	facts := Facts{Files: map[string]string{}}
	start := func(p string) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(p, "/") + "/", Mode: 0o755,
			PAXRecords: map[string]string{paxRoot: p}, Format: tar.FormatPAX})
	}
	err := f.entries(ctx, start, func(p, rel string, hdr *tar.Header, r io.Reader) error {
		hdr.Name = strings.TrimPrefix(path.Join(p, rel), "/")
		if hdr.Typeflag == tar.TypeDir {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		sum, err := hashTo(tw, r)
		facts.Files[path.Join(p, rel)] = sum
		return err
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDumpFailed, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("%w: service %s: %w", ErrDumpFailed, f.svc, err)
	}
	f.recorded = facts
	return nil
}

// Restore implements Dumper: each path's entries are extracted into it, as
// the backup names them (the paths the stack lists now do not matter).
// Files the backup holds are replaced; files made since are left.
func (f *files) Restore(ctx context.Context, r io.Reader) error {
	tr := tar.NewReader(r)
	var (
		cur  string // the path being written
		root string
		pw   *io.PipeWriter
		tw   *tar.Writer
		done chan error
	)
	finish := func() error {
		if pw == nil {
			return nil
		}
		err := tw.Close()
		_ = pw.CloseWithError(err)
		werr := <-done
		pw = nil
		if werr != nil {
			return fmt.Errorf("%w: write %s of service %s: %w", ErrRestoreFailed, cur, f.svc, werr)
		}
		return err
	}
	fail := func(err error) error {
		if pw != nil {
			_ = pw.CloseWithError(err)
			// The writer's own error is the cause when it stopped first.
			if werr := <-done; werr != nil {
				err = werr
			}
		}
		return fmt.Errorf("%w: service %s: %w", ErrRestoreFailed, f.svc, err)
	}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(err)
		}
		if p, ok := hdr.PAXRecords[paxRoot]; ok {
			if err := finish(); err != nil {
				return err
			}
			cur, root = path.Clean("/"+p), strings.TrimPrefix(path.Clean("/"+p), "/")
			var pr *io.PipeReader
			pr, pw = io.Pipe()
			tw = tar.NewWriter(pw)
			done = make(chan error, 1)
			go func(p string) {
				err := f.fs.WriteTar(ctx, p, pr)
				_ = pr.CloseWithError(err)
				done <- err
			}(cur)
			continue
		}
		name, err := fsutil.CleanTarName(hdr.Name)
		if err != nil {
			return fail(err)
		}
		rel, ok := strings.CutPrefix(name, root+"/")
		if pw == nil || !ok {
			return fail(fmt.Errorf("entry %q is under no backed-up path: this is not a files backup of quai's", hdr.Name))
		}
		hdr.Name = rel
		if hdr.Typeflag == tar.TypeDir {
			hdr.Name += "/"
		}
		delete(hdr.PAXRecords, paxRoot)
		if err := tw.WriteHeader(hdr); err != nil {
			return fail(err)
		}
		if _, err := io.Copy(tw, tr); err != nil { //nolint:gosec // a tar stream is not compressed: it holds no more than its size
			return fail(err)
		}
	}
	return finish()
}

// Check implements Dumper: the SHA-256 of every regular file under the
// paths.
func (f *files) Check(ctx context.Context) (Facts, error) {
	facts := Facts{Files: map[string]string{}}
	err := f.entries(ctx, nil, func(p, rel string, hdr *tar.Header, r io.Reader) error {
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		sum, err := hashTo(io.Discard, r)
		facts.Files[path.Join(p, rel)] = sum
		return err
	})
	if err != nil {
		return Facts{}, fmt.Errorf("%w: %w", ErrCheckFailed, err)
	}
	return facts, nil
}
