// Package upload packs a project folder into the tar a remote `quai up`
// sends to the daemon, and unpacks such a tar on the daemon, refusing
// anything that could write outside the folder. Packing is deterministic
// (sorted entries, no times or owners), so the same folder has the same
// hash and a daemon that has it already is not sent it again.
//
// It imports the standard library, internal/wire and moby's pattern
// matcher (.dockerignore syntax) only: the CLI packs, the daemon unpacks.
package upload

import (
	"archive/tar"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/quai-dev/quai/internal/wire"
)

// Errors of Pack and Unpack, matched with errors.Is.
var (
	// ErrTooLarge: the folder, or the upload, exceeds the size or entry limit.
	ErrTooLarge = errors.New("project folder too large to upload")
	// ErrUnsafe: an entry is absolute, climbs out with "..", lies below a
	// symbolic link, or is a link pointing outside the folder.
	ErrUnsafe = errors.New("unsafe entry in a project upload")
)

// IgnoreFiles are read at the root of the folder; their patterns (the
// .dockerignore syntax) leave files out of the upload. .git is always left
// out.
var IgnoreFiles = []string{".dockerignore", ".quaiignore"}

// Limits bound an upload.
type Limits struct {
	// Bytes bounds the uncompressed tar; default wire.MaxUploadBytes.
	Bytes int64
	// Entries bounds files, directories and links; default wire.MaxUploadEntries.
	Entries int
}

func (l Limits) orDefault() Limits {
	if l.Bytes <= 0 {
		l.Bytes = wire.MaxUploadBytes
	}
	if l.Entries <= 0 {
		l.Entries = wire.MaxUploadEntries
	}
	return l
}

// Summary describes a packed or unpacked upload.
type Summary struct {
	// Hash is wire.UploadHash of the tar.
	Hash string
	// Bytes is the tar's size, Files its regular files.
	Bytes int64
	Files int
}

// epoch is the time of every packed entry: times would make the same
// folder hash differently on every build.
var epoch = time.Unix(0, 0).UTC()

// Pack writes the folder dir as a tar to w, leaving out what IgnoreFiles
// and .git exclude. It fails with ErrTooLarge past limits and with
// ErrUnsafe for a symbolic link that points outside dir (the daemon could
// not follow it).
func Pack(dir string, w io.Writer, limits Limits) (Summary, error) {
	limits = limits.orDefault()
	pm, err := ignorePatterns(dir)
	if err != nil {
		return Summary{}, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Summary{}, fmt.Errorf("open project folder: %w", err)
	}
	defer func() { _ = root.Close() }()
	sum := sha256.New()
	cw := &countWriter{w: io.MultiWriter(w, sum)}
	tw := tar.NewWriter(cw)
	var s Summary
	entries := 0
	err = fs.WalkDir(root.FS(), ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil || rel == "." {
			return err
		}
		if rel == ".git" || strings.HasPrefix(rel, ".git/") {
			return fs.SkipDir
		}
		if pm != nil {
			ignored, err := pm.MatchesOrParentMatches(rel)
			if err != nil {
				return err
			}
			if ignored {
				if d.IsDir() && !pm.Exclusions() {
					return fs.SkipDir
				}
				return nil
			}
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: rel, ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case fi.IsDir():
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, rel+"/", 0o755
		case fi.Mode().IsRegular():
			hdr.Typeflag, hdr.Size, hdr.Mode = tar.TypeReg, fi.Size(), int64(fi.Mode().Perm()&0o755|0o644)
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := root.Readlink(rel)
			if err != nil {
				return err
			}
			if err := checkLink(rel, target); err != nil {
				return fmt.Errorf("%w (the daemon cannot follow it: copy the file into the folder, or list it in .quaiignore)", err)
			}
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, target, 0o777
		default:
			return nil // sockets, devices, fifos
		}
		entries++
		if entries > limits.Entries {
			return fmt.Errorf("%w: %s has more than %d files and directories; list what the daemon does not need in .quaiignore", ErrTooLarge, dir, limits.Entries)
		}
		if cw.n+hdr.Size > limits.Bytes {
			return fmt.Errorf("%w: %s is more than %d MiB (at %s); list what the daemon does not need (build outputs it does not run, data, node_modules) in .quaiignore",
				ErrTooLarge, dir, limits.Bytes>>20, rel)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		s.Files++
		f, err := root.Open(rel)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
			return fmt.Errorf("read %s: %w", filepath.Join(dir, rel), err)
		}
		return nil
	})
	if err != nil {
		return Summary{}, err
	}
	if err := tw.Close(); err != nil {
		return Summary{}, err
	}
	s.Hash, s.Bytes = wire.UploadHash(sum.Sum(nil)), cw.n
	return s, nil
}

func ignorePatterns(dir string) (*patternmatcher.PatternMatcher, error) {
	var patterns []string
	for _, name := range IgnoreFiles {
		f, err := os.Open(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		p, err := ignorefile.ReadAll(f)
		_ = f.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, name), err)
		}
		patterns = append(patterns, p...)
	}
	if len(patterns) == 0 {
		return nil, nil
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("patterns of %s in %s: %w", strings.Join(IgnoreFiles, ", "), dir, err)
	}
	return pm, nil
}

// checkLink refuses a link (at rel, to target) that is absolute or leaves
// the folder.
func checkLink(rel, target string) error {
	if target == "" || path.IsAbs(target) || filepath.IsAbs(target) {
		return fmt.Errorf("%w: %s is a symbolic link to %s, outside the project folder", ErrUnsafe, rel, target)
	}
	if p := path.Join(path.Dir(rel), target); p == ".." || strings.HasPrefix(p, "../") {
		return fmt.Errorf("%w: %s is a symbolic link to %s, outside the project folder", ErrUnsafe, rel, target)
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Unpack extracts the tar r into dir, which must not exist (the daemon
// unpacks into a new directory and renames it into place), and returns its
// summary, the hash computed over what it read. Every entry is checked
// before it is written: names must be relative and stay inside (no "..",
// no absolute path, nothing below a symbolic link), links must point inside,
// only files, directories and symbolic links are accepted, and the sizes
// are bounded by limits. Modes keep only the permission bits (no setuid),
// owners are not kept.
func Unpack(r io.Reader, dir string, limits Limits) (Summary, error) {
	limits = limits.orDefault()
	if err := os.Mkdir(dir, 0o755); err != nil {
		return Summary{}, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Summary{}, err
	}
	defer func() { _ = root.Close() }()
	sum := sha256.New()
	cr := &countReader{r: io.TeeReader(io.LimitReader(r, limits.Bytes+1), sum)}
	tr := tar.NewReader(cr)
	var s Summary
	seen := map[string]bool{}
	links := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Summary{}, tooLarge(cr, limits, fmt.Errorf("read the upload: %w", err))
		}
		if len(seen) >= limits.Entries {
			return Summary{}, fmt.Errorf("%w: more than %d entries", ErrTooLarge, limits.Entries)
		}
		name, err := cleanName(hdr.Name)
		if err != nil {
			return Summary{}, err
		}
		if seen[name] {
			return Summary{}, fmt.Errorf("%w: %q appears twice", ErrUnsafe, hdr.Name)
		}
		seen[name] = true
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if links[d] {
				return Summary{}, fmt.Errorf("%w: %q lies below the symbolic link %s", ErrUnsafe, hdr.Name, d)
			}
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return Summary{}, err
			}
		case tar.TypeReg:
			if err := writeFile(root, name, hdr, tr); err != nil {
				return Summary{}, tooLarge(cr, limits, fmt.Errorf("write %s: %w", name, err))
			}
			s.Files++
		case tar.TypeSymlink:
			if err := checkLink(name, hdr.Linkname); err != nil {
				return Summary{}, err
			}
			if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
				return Summary{}, err
			}
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return Summary{}, err
			}
			links[name] = true
		default:
			return Summary{}, fmt.Errorf("%w: %q is neither a file, a directory nor a symbolic link (type %q)", ErrUnsafe, hdr.Name, hdr.Typeflag)
		}
	}
	// The rest of the stream (tar padding) belongs to the hash too.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return Summary{}, fmt.Errorf("read the upload: %w", err)
	}
	if cr.n > limits.Bytes {
		return Summary{}, fmt.Errorf("%w: more than %d MiB", ErrTooLarge, limits.Bytes>>20)
	}
	s.Hash, s.Bytes = wire.UploadHash(sum.Sum(nil)), cr.n
	return s, nil
}

func tooLarge(cr *countReader, limits Limits, err error) error {
	if cr.n > limits.Bytes {
		return fmt.Errorf("%w: more than %d MiB", ErrTooLarge, limits.Bytes>>20)
	}
	return err
}

// cleanName returns an entry's name relative to the root, refusing
// absolute names, "..", backslashes and the root itself.
func cleanName(name string) (string, error) {
	n := path.Clean(strings.TrimSuffix(name, "/"))
	switch {
	case name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || strings.ContainsRune(name, 0):
		return "", fmt.Errorf("%w: %q is not a relative path", ErrUnsafe, name)
	case n == "." || n == ".." || strings.HasPrefix(n, "../"):
		return "", fmt.Errorf("%w: %q leaves the project folder", ErrUnsafe, name)
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return "", fmt.Errorf("%w: %q leaves the project folder", ErrUnsafe, name)
		}
	}
	return n, nil
}

func writeFile(root *os.Root, name string, hdr *tar.Header, r io.Reader) error {
	if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
		return err
	}
	mode := os.FileMode(hdr.Mode).Perm() & 0o755
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode|0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r) //nolint:gosec // the reader is bounded by Limits.Bytes
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
