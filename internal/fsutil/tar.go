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
// dir: names with ".." or absolute names fail with ErrUnsafePath, and a
// symbolic link is never followed while extracting (an existing one is
// replaced). Owners are kept when the process may set them.
func ExtractTar(r io.Reader, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	type dirTime struct {
		path string
		hdr  *tar.Header
	}
	var dirs []dirTime
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
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := noLinkOnTheWay(dir, filepath.Dir(p)); err != nil {
			return err
		}
		mode := os.FileMode(hdr.Mode).Perm()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if fi, err := os.Lstat(p); err == nil && !fi.IsDir() {
				if err := os.Remove(p); err != nil {
					return err
				}
			}
			if err := os.MkdirAll(p, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, dirTime{p, hdr})
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if fi, err := os.Lstat(p); err == nil && !fi.Mode().IsRegular() {
				if err := os.RemoveAll(p); err != nil {
					return err
				}
			}
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, mode)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr) //nolint:gosec // a tar stream is not compressed: it holds no more than its size
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("write %s: %w", p, err)
			}
			if err := finish(p, hdr, mode); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.RemoveAll(p); err != nil {
				return err
			}
			if err := os.Symlink(hdr.Linkname, p); err != nil {
				return err
			}
			_ = os.Lchown(p, hdr.Uid, hdr.Gid)
		default:
			// Hard links, devices and fifos are not what backups of
			// application data hold; they are skipped.
		}
	}
	// Directories get their modes and times last, once nothing more is
	// written into them.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := finish(dirs[i].path, dirs[i].hdr, os.FileMode(dirs[i].hdr.Mode).Perm()); err != nil {
			return err
		}
	}
	return nil
}

func finish(p string, hdr *tar.Header, mode os.FileMode) error {
	if os.Geteuid() == 0 {
		_ = os.Lchown(p, hdr.Uid, hdr.Gid)
	}
	if err := os.Chmod(p, mode); err != nil {
		return err
	}
	return os.Chtimes(p, hdr.ModTime, hdr.ModTime)
}

// noLinkOnTheWay refuses to extract into a directory reached through a
// symbolic link below root, which could point outside it.
func noLinkOnTheWay(root, dir string) error {
	for d := dir; len(d) > len(root); d = filepath.Dir(d) {
		fi, err := os.Lstat(d)
		if err != nil {
			if os.IsNotExist(err) {
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
