package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"

	"github.com/kopia/kopia/fs"
	"github.com/kopia/kopia/repo/object"
	"github.com/kopia/kopia/snapshot"
	"github.com/kopia/kopia/snapshot/restore"
	"github.com/kopia/kopia/snapshot/snapshotfs"
)

// Restore reads snapshot id back: a stream snapshot into stream (which
// gets the data as written; its error fails the restore), a directory
// snapshot into dir, which then holds exactly the snapshot (files the
// snapshot lacks are deleted). Before any byte reaches stream or dir, every
// chunk the snapshot needs is checked to be in the repository; a chunk that
// fails authentication while reading stops the restore with ErrCorrupt
// naming the snapshot.
func (r *Repo) Restore(ctx context.Context, id string, stream func(ctx context.Context, rd io.Reader) error, dir string) error {
	if err := r.tgt.reachable(ctx); err != nil {
		return err
	}
	m, err := r.load(ctx, id)
	if err != nil {
		return err
	}
	s := fromManifest(m)
	isFile := m.RootEntry != nil && m.RootEntry.Type == snapshot.EntryTypeFile
	switch {
	case isFile && stream == nil:
		return fmt.Errorf("backup: restore %s: snapshot %s holds a stream (%s): restore it with a stream, not into a directory", r.display, id, s.Name)
	case !isFile && dir == "":
		return fmt.Errorf("backup: restore %s: snapshot %s holds a directory (%s): restore it into a directory", r.display, id, s.Name)
	}
	if _, err := r.check(ctx, "restore refused", m, 0); err != nil {
		return err
	}
	root, err := snapshotfs.SnapshotRoot(r.kr, m)
	if err != nil {
		return r.corrupt(ctx, "restore", m, err)
	}
	if isFile {
		return r.restoreStream(ctx, m, root, stream)
	}
	return r.restoreDir(ctx, m, root, dir)
}

func (r *Repo) restoreStream(ctx context.Context, m *snapshot.Manifest, root fs.Entry, stream func(ctx context.Context, rd io.Reader) error) error {
	if _, ok := root.(fs.File); !ok {
		return r.corrupt(ctx, "restore", m, errors.New("the snapshot's root is not a file"))
	}
	oid := m.RootEntry.ObjectID
	open := func(ctx context.Context) (object.Reader, error) { return r.kr.OpenObject(ctx, oid) }
	rd := readAhead(ctx, open, m.RootEntry.FileSize, runtime.GOMAXPROCS(0))
	defer func() { _ = rd.Close() }() // a reader: nothing to lose
	cr := &checkedReader{r: rd}
	serr := stream(ctx, cr)
	if cr.err != nil {
		return r.corrupt(ctx, "restore", m, cr.err)
	}
	if serr != nil {
		return fmt.Errorf("backup: restore snapshot %s from %s: %w", m.ID, r.display, serr)
	}
	return nil
}

func (r *Repo) restoreDir(ctx context.Context, m *snapshot.Manifest, root fs.Entry, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil { //nolint:gosec // the restore directory is chosen by the daemon or its operator
		return fmt.Errorf("backup: restore snapshot %s: %w", m.ID, err)
	}
	out := &restore.FilesystemOutput{
		TargetPath:             dir,
		OverwriteDirectories:   true,
		OverwriteFiles:         true,
		OverwriteSymlinks:      true,
		IgnorePermissionErrors: true,
		WriteFilesAtomically:   true,
		SkipOwners:             os.Geteuid() != 0,
	}
	if err := out.Init(ctx); err != nil {
		return fmt.Errorf("backup: restore snapshot %s into %s: %w", m.ID, dir, err)
	}
	_, err := restore.Entry(ctx, r.kr, out, root, restore.Options{
		Parallel:               runtime.GOMAXPROCS(0),
		DeleteExtra:            true,
		RestoreDirEntryAtDepth: math.MaxInt32,
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("backup: restore snapshot %s into %s: %w", m.ID, dir, ctx.Err())
		}
		var pe *os.PathError
		if errors.As(err, &pe) && !errors.Is(err, ErrUnreachable) {
			return fmt.Errorf("backup: restore snapshot %s into %s: %w", m.ID, dir, err)
		}
		return r.corrupt(ctx, "restore", m, err)
	}
	return nil
}

// corrupt reports a read failure as ErrCorrupt naming the snapshot, unless
// the target stopped answering.
func (r *Repo) corrupt(ctx context.Context, what string, m *snapshot.Manifest, err error) error {
	if errors.Is(err, ErrUnreachable) || ctx.Err() != nil {
		return r.tgt.classify(ctx, fmt.Errorf("backup: %s: snapshot %s: %w", what, m.ID, err))
	}
	if perr := r.tgt.reachable(context.WithoutCancel(ctx)); perr != nil {
		return fmt.Errorf("%w (after: %w)", perr, err)
	}
	s := fromManifest(m)
	return fmt.Errorf("backup: %s: snapshot %s (%s, taken %s) in %s: %w: %w; restore an older snapshot (`quai backup ls`) and take a new backup",
		what, m.ID, s.Name, s.Start.UTC().Format("2006-01-02 15:04:05Z"), r.display, ErrCorrupt, err)
}

// checkedReader remembers the first read error, so that a stream consumer
// that swallows it (or reports it its own way) cannot hide corruption.
type checkedReader struct {
	r   io.Reader
	err error
}

func (c *checkedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}
