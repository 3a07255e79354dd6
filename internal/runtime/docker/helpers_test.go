package docker

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/runtime"
)

// newRuntime connects to the engine of DOCKER_HOST or the local socket, and
// skips the test when there is none (CI installs and starts one, and fails
// on skips).
func newRuntime(t *testing.T, opts Options) *Runtime {
	t.Helper()
	if opts.StateDir == "" {
		opts.StateDir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := New(ctx, opts)
	if errors.Is(err, runtime.ErrUnavailable) {
		t.Skipf("no Docker Engine: %v (run scripts/deps.sh as root to install and start one)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// fixedTime is the modification time of generated build contexts, so that
// an unchanged context hashes the same and is built once per machine.
var fixedTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// goBuildStatic builds a package of this module as a static binary.
func goBuildStatic(t *testing.T, pkg, out string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	if err := os.Chtimes(out, fixedTime, fixedTime); err != nil {
		t.Fatal(err)
	}
}

// testAppImage builds the test app (runtimetest.AppMain plus dial) into a
// FROM scratch image through the Engine API and returns its reference.
func testAppImage(t *testing.T, r *Runtime) string {
	t.Helper()
	dir := t.TempDir()
	goBuildStatic(t, "./testdata/testapp", filepath.Join(dir, "app"))
	df := filepath.Join(dir, "Dockerfile")
	if err := os.WriteFile(df, []byte("FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{df, dir} {
		if err := os.Chtimes(p, fixedTime, fixedTime); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	b, err := r.BuildImage(ctx, BuildSpec{Service: "testapp", Context: dir, Repository: "quai-test/app", Labels: map[string]string{"quai.test": "image"}})
	if err != nil {
		t.Fatalf("build the test app image: %v", err)
	}
	if !b.Cached {
		t.Logf("built %s in %s", b.Ref, time.Since(start).Round(time.Millisecond))
	}
	return b.Ref
}

// pgImageLayout changes whenever writeRootfs or the import changes do, so
// that machines rebuild the cached image.
const pgImageLayout = "layout 3"

// pgBin is where Debian installs the PostgreSQL server the test image is
// made from.
const pgBin = "/usr/lib/postgresql/15"

// postgresImage makes a PostgreSQL image from the host's PostgreSQL 15
// packages (server, shared files, the libraries ldd names, zoneinfo) and
// a static entrypoint that runs initdb as uid 999, imported through the
// Engine API. It is tagged by a hash of its inputs, so a machine builds it
// once.
func postgresImage(t *testing.T, r *Runtime) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(pgBin, "bin", "postgres")); err != nil {
		t.Skipf("PostgreSQL 15 is not installed (%v): run scripts/deps.sh", err)
	}
	dir := t.TempDir()
	entry := filepath.Join(dir, "pgentry")
	goBuildStatic(t, "./testdata/pgentry", entry)

	h := sha256.New()
	h.Write([]byte(pgImageLayout))
	for _, f := range []string{entry, filepath.Join(pgBin, "bin", "postgres"), filepath.Join(pgBin, "bin", "initdb"), "/bin/dash"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	ref := "quai-test/postgres:15-" + hex.EncodeToString(h.Sum(nil))[:16]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := r.cli.ImageInspect(ctx, ref); err == nil {
		return ref
	}
	start := time.Now()
	files, err := postgresFiles()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeRootfs(pw, files, entry)) }()
	res, err := r.cli.ImageImport(ctx, client.ImageImportSource{Source: pr, SourceName: "-"}, ref, client.ImageImportOptions{
		Changes: []string{
			`ENTRYPOINT ["/pgentry"]`, "USER 999:999", "ENV PGDATA=/var/lib/postgresql/data", "ENV TZ=UTC",
			"EXPOSE 5432", "LABEL quai.test=postgres",
		},
		Message: "PostgreSQL 15 from the host's Debian packages, for quai's tests",
	})
	if err != nil {
		t.Fatalf("import the postgres image: %v", err)
	}
	_, _ = io.Copy(io.Discard, res)
	_ = res.Close()
	if _, err := r.cli.ImageInspect(ctx, ref); err != nil {
		t.Fatalf("the imported postgres image is missing: %v", err)
	}
	t.Logf("built %s from %d host files in %s", ref, len(files), time.Since(start).Round(time.Millisecond))
	return ref
}

var lddPath = regexp.MustCompile(`(?:=>\s*)?(/\S+)\s+\(0x`)

// postgresFiles lists the host files the image needs: the server tree
// (without the LLVM JIT, which would pull in 130 MB), its shared files,
// zoneinfo and every library ldd names for its executables and modules.
func postgresFiles() ([]string, error) {
	var files []string
	var elfs []string
	for _, root := range []string{pgBin, "/usr/share/postgresql/15", "/usr/share/zoneinfo"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if strings.Contains(p, "llvmjit") || strings.HasSuffix(p, "/lib/bitcode") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			files = append(files, p)
			if d.Type().IsRegular() && (strings.HasPrefix(p, pgBin+"/bin/") || strings.HasSuffix(p, ".so")) {
				elfs = append(elfs, p)
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	// initdb runs the server through popen, which needs /bin/sh.
	elfs = append(elfs, "/bin/dash")
	libs := map[string]bool{}
	for _, e := range elfs {
		out, err := exec.Command("ldd", e).Output()
		if err != nil {
			continue // not a dynamic executable (a script)
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
	return files, nil
}

// writeRootfs writes the image's root file system as a tar stream.
func writeRootfs(w io.Writer, files []string, entry string) error {
	tw := tar.NewWriter(w)
	const pgUID = 999
	dirs := map[string]bool{}
	mkdir := func(name string, mode int64, uid int) error {
		if dirs[name] {
			return nil
		}
		dirs[name] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: uid, Gid: uid, ModTime: fixedTime})
	}
	var parents func(p string) error
	parents = func(p string) error {
		d := filepath.Dir(p)
		if d == "/" || d == "." || dirs[strings.TrimPrefix(d, "/")] {
			return nil
		}
		if err := parents(d); err != nil {
			return err
		}
		return mkdir(strings.TrimPrefix(d, "/"), 0o755, 0)
	}
	file := func(name string, data []byte, mode int64) error {
		if err := parents("/" + name); err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: fixedTime}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []struct {
		name string
		mode int64
		uid  int
	}{
		{"etc", 0o755, 0}, {"tmp", 0o1777, 0}, {"var", 0o755, 0}, {"var/lib", 0o755, 0}, {"var/lib/postgresql", 0o755, pgUID},
		{"var/lib/postgresql/data", 0o700, pgUID}, {"var/run", 0o755, 0}, {"var/run/postgresql", 0o2775, pgUID},
	} {
		if err := mkdir(d.name, d.mode, d.uid); err != nil {
			return err
		}
	}
	if err := file("etc/passwd", []byte("root:x:0:0:root:/root:/sbin/nologin\npostgres:x:999:999:PostgreSQL:/var/lib/postgresql:/sbin/nologin\n"), 0o644); err != nil {
		return err
	}
	if err := file("etc/group", []byte("root:x:0:\npostgres:x:999:\n"), 0o644); err != nil {
		return err
	}
	b, err := os.ReadFile(entry)
	if err != nil {
		return err
	}
	if err := file("pgentry", b, 0o755); err != nil {
		return err
	}
	sh, err := os.ReadFile("/bin/dash")
	if err != nil {
		return err
	}
	if err := file("bin/sh", sh, 0o755); err != nil {
		return err
	}
	for _, p := range files {
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "/")
		switch {
		case fi.IsDir():
			if err := parents(p); err != nil {
				return err
			}
			if err := mkdir(name, 0o755, 0); err != nil {
				return err
			}
		case fi.Mode()&fs.ModeSymlink != 0 && !strings.Contains(p, "/lib/x86_64") && !strings.HasPrefix(p, "/lib64"):
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := parents(p); err != nil {
				return err
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, ModTime: fixedTime}); err != nil {
				return err
			}
		default:
			// Libraries are copied at the path the loader asks for, with
			// their symbolic links resolved.
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			st, err := os.Stat(p)
			if err != nil {
				return err
			}
			if err := file(name, b, int64(st.Mode().Perm())); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

func newTarReader(r io.Reader) *tar.Reader { return tar.NewReader(r) }
