package dockertest

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// HostImageSpec is an image made of the host's own programs, for servers
// other than PostgreSQL (Redis, MariaDB) that tests run on Docker without a
// registry.
type HostImageSpec struct {
	// Name is the image's repository under quai-test/.
	Name string
	// Programs are host executables copied at the same path, with every
	// library ldd names. /bin/dash is always there, as /bin/sh.
	Programs []string
	// Trees are host directories copied whole (shared files).
	Trees []string
	// Files are extra files by path in the image (an entrypoint script);
	// one replaces a tree's file of the same path.
	Files map[string][]byte
	// Dirs are empty directories made world-writable (data, sockets).
	Dirs []string
	// Changes are Dockerfile instructions (CMD, ENV, EXPOSE...).
	Changes []string
}

// HostImage imports spec's image, tagged by a hash of its inputs so a
// machine builds it once, and returns its reference. A missing program
// skips the test, or fails it in CI.
func HostImage(t testing.TB, cli *client.Client, spec HostImageSpec) string {
	t.Helper()
	for _, p := range spec.Programs {
		if _, err := os.Stat(p); err != nil {
			msg := fmt.Sprintf("%s is not installed (%v): run scripts/deps.sh", p, err)
			if CI() {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	h := sha256.New()
	_, _ = fmt.Fprintf(h, "%q %q %q %q\n", spec.Programs, spec.Trees, spec.Dirs, spec.Changes)
	for _, p := range append([]string{"/bin/dash"}, spec.Programs...) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	for _, name := range slices.Sorted(maps.Keys(spec.Files)) {
		_, _ = fmt.Fprintf(h, "%s %x\n", name, sha256.Sum256(spec.Files[name]))
	}
	ref := "quai-test/" + spec.Name + ":host-" + hex.EncodeToString(h.Sum(nil))[:16]
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		return ref
	}
	files, err := hostFiles(spec)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeHostRootfs(pw, files, spec)) }()
	res, err := cli.ImageImport(ctx, client.ImageImportSource{Source: pr, SourceName: "-"}, ref, client.ImageImportOptions{
		Changes: append([]string{"LABEL quai.test=" + spec.Name}, spec.Changes...),
		Message: spec.Name + " from the host's programs, for quai's tests",
	})
	if err != nil {
		t.Fatalf("import the %s image: %v", spec.Name, err)
	}
	_, _ = io.Copy(io.Discard, res)
	_ = res.Close()
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		t.Fatalf("the imported %s image is missing: %v", spec.Name, err)
	}
	return ref
}

// hostFiles lists the programs, the trees' files and every library ldd
// names for the programs.
func hostFiles(spec HostImageSpec) ([]string, error) {
	files := append([]string{"/bin/dash"}, spec.Programs...)
	for _, root := range spec.Trees {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			files = append(files, p)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	libs := map[string]bool{}
	for _, e := range append([]string{"/bin/dash"}, spec.Programs...) {
		out, err := exec.Command("ldd", e).Output()
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			if m := lddPath.FindStringSubmatch(sc.Text()); m != nil {
				libs[m[1]] = true
			}
		}
	}
	for l := range libs {
		files = append(files, l)
	}
	slices.Sort(files)
	return slices.Compact(files), nil
}

// writeHostRootfs writes the root file system: /bin/sh, the files with
// symbolic links resolved (but for links inside the trees), spec's files
// and directories, and /tmp.
func writeHostRootfs(w io.Writer, files []string, spec HostImageSpec) error {
	tw := tar.NewWriter(w)
	made := map[string]bool{}
	var parents func(p string) error
	parents = func(p string) error {
		d := strings.TrimPrefix(filepath.Dir(p), "/")
		if d == "" || d == "." || made[d] {
			return nil
		}
		if err := parents("/" + d); err != nil {
			return err
		}
		made[d] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: FixedTime})
	}
	file := func(p string, data []byte, mode int64) error {
		if err := parents(p); err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "/")
		made[name] = true
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: FixedTime}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range append([]string{"/tmp"}, spec.Dirs...) {
		if err := parents(d); err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o1777, ModTime: FixedTime}); err != nil {
			return err
		}
		made[strings.TrimPrefix(d, "/")] = true
	}
	sh, err := os.ReadFile("/bin/dash")
	if err != nil {
		return err
	}
	if err := file("/bin/sh", sh, 0o755); err != nil {
		return err
	}
	for _, p := range files {
		if _, replaced := spec.Files[p]; replaced {
			continue
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		inTree := slices.ContainsFunc(spec.Trees, func(t string) bool { return strings.HasPrefix(p, t+"/") })
		switch {
		case fi.IsDir():
			if err := parents(p + "/x"); err != nil {
				return err
			}
		case fi.Mode()&fs.ModeSymlink != 0 && inTree:
			if err := parents(p); err != nil {
				return err
			}
			if err := writeSymlink(tw, p); err != nil {
				return err
			}
		default:
			b, mode, err := readResolved(p)
			if err != nil {
				return err
			}
			if err := file(p, b, mode); err != nil {
				return err
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(spec.Files)) {
		if err := file(name, spec.Files[name], 0o755); err != nil {
			return err
		}
	}
	return tw.Close()
}

// writeSymlink writes the host's symbolic link p as it is.
func writeSymlink(tw *tar.Writer, p string) error {
	target, err := os.Readlink(p)
	if err != nil {
		return err
	}
	return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: strings.TrimPrefix(p, "/"), Linkname: target, ModTime: FixedTime})
}

// readResolved returns the content and permissions of the file p names,
// its symbolic links resolved.
func readResolved(p string) ([]byte, int64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, 0, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return nil, 0, err
	}
	return b, int64(st.Mode().Perm()), nil
}

// MariaDBSystemTables is the SQL that mariadb-install-db feeds mariadbd
// --bootstrap to create the system tables, from the host's MariaDB
// package, for images whose entrypoint initialises a data directory; a
// missing package skips the test, or fails it in CI.
func MariaDBSystemTables(t testing.TB) []byte {
	t.Helper()
	boot := []byte("create database if not exists mysql;\nuse mysql;\nSET @auth_root_socket=NULL;\n")
	for _, f := range []string{"mysql_system_tables.sql", "mysql_performance_tables.sql", "mysql_system_tables_data.sql", "fill_help_tables.sql", "maria_add_gis_sp_bootstrap.sql", "mysql_sys_schema.sql"} {
		b, err := os.ReadFile(filepath.Join("/usr/share/mysql", f))
		if err != nil {
			msg := "MariaDB's system tables are not installed (" + err.Error() + "): run scripts/deps.sh"
			if CI() {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		boot = append(boot, b...)
	}
	return boot
}
