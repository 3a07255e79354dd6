package fsutil

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrUnsafePath is returned for a tar entry whose name would land outside
// the directory it is extracted into (absolute, or with "..").
var ErrUnsafePath = errors.New("tar entry outside the target directory")

// WriteTar writes the directory dir and everything under it to w as a tar
// stream whose entries are named relative to dir ("a/b.txt"), keeping
// modes, owners, times and symbolic links. Sockets and devices are left out.
// Files are opened within dir (os.Root), so a symbolic link swapped in
// while it walks cannot make it read outside.
func WriteTar(w io.Writer, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer func() { _ = root.Close() }()
	tw := tar.NewWriter(w)
	err = fs.WalkDir(root.FS(), ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil || rel == "." {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() && !fi.IsDir() && fi.Mode()&fs.ModeSymlink == 0 {
			return nil
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = root.Readlink(rel); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		// A file that grows while it is read is cut at its size in the
		// header, which is what the tar format allows.
		if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
			return fmt.Errorf("read %s: %w", filepath.Join(dir, rel), err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// CleanTarName returns a tar entry's name relative to the archive's root
// ("./a/b/" → "a/b"), or ErrUnsafePath for one that is absolute or climbs
// out with "..". The root itself is "".
func CleanTarName(name string) (string, error) {
	n := path.Clean(name)
	if strings.HasPrefix(name, "/") || n == ".." || strings.HasPrefix(n, "../") {
		return "", fmt.Errorf("%w: %q", ErrUnsafePath, name)
	}
	if n == "." {
		return "", nil
	}
	return n, nil
}

// ExtractTar extracts the tar stream r into dir, creating dir if needed and
// replacing the files the stream holds. Entries are never written outside
// dir: names with ".." or absolute names fail with ErrUnsafePath, as does
// an entry below a symbolic link, and every file is opened within dir
// (os.Root). Owners are kept when the process may set them.
func ExtractTar(r io.Reader, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer func() { _ = root.Close() }()
	tr := tar.NewReader(r)
	var dirs []*tar.Header
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name, err := CleanTarName(hdr.Name)
		if err != nil {
			return err
		}
		if name == "" {
			continue
		}
		if err := noLinkOnTheWay(root, path.Dir(name)); err != nil {
			return err
		}
		hdr.Name = name
		switch hdr.Typeflag {
		case tar.TypeDir:
			if fi, err := root.Lstat(name); err == nil && !fi.IsDir() {
				if err := root.Remove(name); err != nil {
					return err
				}
			}
			if err := root.MkdirAll(name, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, hdr)
		case tar.TypeReg:
			if err := extractFile(root, hdr, tr); err != nil {
				return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
			}
		case tar.TypeSymlink:
			if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
				return err
			}
			if err := root.RemoveAll(name); err != nil {
				return err
			}
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return err
			}
			if os.Geteuid() == 0 {
				_ = root.Lchown(name, hdr.Uid, hdr.Gid)
			}
		default:
			// Hard links, devices and fifos are not what backups of
			// application data hold; they are skipped.
		}
	}
	// Directories get their modes and times last, once nothing more is
	// written into them.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := finish(root, dirs[i]); err != nil {
			return err
		}
	}
	return nil
}

func extractFile(root *os.Root, hdr *tar.Header, r io.Reader) error {
	if err := root.MkdirAll(path.Dir(hdr.Name), 0o755); err != nil {
		return err
	}
	if fi, err := root.Lstat(hdr.Name); err == nil && !fi.Mode().IsRegular() {
		if err := root.RemoveAll(hdr.Name); err != nil {
			return err
		}
	}
	f, err := root.OpenFile(hdr.Name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, os.FileMode(hdr.Mode).Perm())
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r) //nolint:gosec // a tar stream is not compressed: it holds no more than its size
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return finish(root, hdr)
}

// finish gives an extracted file or directory its owner (when the process
// may set it), mode and modification time.
func finish(root *os.Root, hdr *tar.Header) error {
	if os.Geteuid() == 0 {
		_ = root.Lchown(hdr.Name, hdr.Uid, hdr.Gid)
	}
	if err := root.Chmod(hdr.Name, os.FileMode(hdr.Mode).Perm()); err != nil {
		return err
	}
	return root.Chtimes(hdr.Name, hdr.ModTime, hdr.ModTime)
}

// noLinkOnTheWay refuses to extract below a symbolic link (dir and its
// parents, relative to root): a link in the stream, or one already there,
// could point anywhere.
func noLinkOnTheWay(root *os.Root, dir string) error {
	for d := dir; d != "." && d != "/"; d = path.Dir(d) {
		fi, err := root.Lstat(d)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%w: %s is a symbolic link", ErrUnsafePath, d)
		}
	}
	return nil
}

// RewriteTar copies the tar stream r to w, renaming each entry with rename;
// entries for which rename returns false are dropped (with their content).
func RewriteTar(r io.Reader, w io.Writer, rename func(name string) (string, bool)) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		name, ok := rename(hdr.Name)
		if !ok {
			continue
		}
		hdr.Name = name
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil { //nolint:gosec // a tar stream is not compressed: it holds no more than its size
			return err
		}
	}
}
