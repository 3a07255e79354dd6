// Package dockertest is test support for code that runs on a real Docker
// Engine: it connects to the engine tests use, builds static Go binaries for
// FROM scratch images, and makes a PostgreSQL image from the host's Debian
// packages, imported through the Engine API, since no registry can be
// reached. Images are tagged by a hash of their inputs, so a machine builds
// each once.
//
// It imports the Engine API client only (not the docker runtime, whose own
// tests use it); production code never imports it.
package dockertest

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// FixedTime is the modification time of generated build contexts and image
// files, so that unchanged inputs hash the same and build once per machine.
var FixedTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// CI reports whether the tests run in CI, where every engine is installed
// and a missing one is a failure rather than a skip.
func CI() bool { return os.Getenv("CI") == "true" }

// Engine connects to the engine of DOCKER_HOST or the local socket. With no
// engine it skips the test, or fails it in CI.
func Engine(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.New(client.FromEnv)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if _, err = cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
			_ = cli.Close()
		}
	}
	if err != nil {
		msg := fmt.Sprintf("no Docker Engine: %v (run scripts/deps.sh as root to install and start one)", err)
		if CI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// GoBuildStatic builds the Go package pkg (a path relative to dir, or an
// import path) as a static linux binary at out, stamped with FixedTime.
func GoBuildStatic(t testing.TB, dir, pkg, out string) {
	t.Helper()
	if err := goBuild(dir, pkg, out); err != nil {
		t.Fatal(err)
	}
}

func goBuild(dir, pkg, out string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return os.Chtimes(out, FixedTime, FixedTime)
}

// pgImageLayout changes whenever writeRootfs or the import changes do, so
// that machines rebuild the cached image.
const pgImageLayout = "layout 4"

// PgBin is where Debian installs the PostgreSQL server the image is made
// from; the image keeps the same path.
const PgBin = "/usr/lib/postgresql/15"

// PostgresRepository is the repository PostgresImage tags its image in.
const PostgresRepository = "quai-test/postgres"

// PostgresImage makes a PostgreSQL 15 image from the host's packages
// (server and client programs, shared files, the libraries ldd names,
// zoneinfo, /bin/sh for CMD-SHELL health checks) and a static entrypoint
// that initialises the data directory as the official image does (from
// POSTGRES_USER, POSTGRES_PASSWORD[_FILE] and POSTGRES_DB) as uid 999. It
// returns the image's reference, PostgresRepository:15-<hash of inputs>.
// Without the PostgreSQL packages it skips the test, or fails it in CI.
func PostgresImage(t testing.TB, cli *client.Client) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(PgBin, "bin", "postgres")); err != nil {
		msg := fmt.Sprintf("PostgreSQL 15 is not installed (%v): run scripts/deps.sh", err)
		if CI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ref, err := BuildPostgresImage(ctx, cli, t.TempDir(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// BuildPostgresImage is PostgresImage for tools outside tests (benchmarks):
// it works in workDir and reports through logf.
func BuildPostgresImage(ctx context.Context, cli *client.Client, workDir string, logf func(format string, args ...any)) (string, error) {
	entry := filepath.Join(workDir, "pgentry")
	if err := goBuild(sourceDir(), "./testdata/pgentry", entry); err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte(pgImageLayout))
	for _, f := range []string{entry, filepath.Join(PgBin, "bin", "postgres"), filepath.Join(PgBin, "bin", "initdb"), "/bin/dash"} {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	ref := PostgresRepository + ":15-" + hex.EncodeToString(h.Sum(nil))[:16]
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		return ref, nil
	}
	start := time.Now()
	files, err := postgresFiles()
	if err != nil {
		return "", err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeRootfs(pw, files, entry)) }()
	res, err := cli.ImageImport(ctx, client.ImageImportSource{Source: pr, SourceName: "-"}, ref, client.ImageImportOptions{
		Changes: []string{
			`ENTRYPOINT ["/pgentry"]`, "USER 999:999", "ENV PGDATA=/var/lib/postgresql/data", "ENV TZ=UTC",
			"ENV PATH=" + PgBin + "/bin:/usr/bin:/bin", "EXPOSE 5432", "LABEL quai.test=postgres",
		},
		Message: "PostgreSQL 15 from the host's Debian packages, for quai's tests",
	})
	if err != nil {
		return "", fmt.Errorf("import the postgres image: %w", err)
	}
	_, _ = io.Copy(io.Discard, res)
	_ = res.Close()
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		return "", fmt.Errorf("the imported postgres image is missing: %w", err)
	}
	logf("built %s from %d host files in %s", ref, len(files), time.Since(start).Round(time.Millisecond))
	return ref, nil
}

// sourceDir is this package's directory, where testdata/pgentry lives,
// whatever package's test runs.
func sourceDir() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Dir(file)
}

var lddPath = regexp.MustCompile(`(?:=>\s*)?(/\S+)\s+\(0x`)

// postgresFiles lists the host files the image needs: the server tree
// (without the LLVM JIT, which would pull in 130 MB), its shared files,
// zoneinfo and every library ldd names for its executables and modules.
func postgresFiles() ([]string, error) {
	var files []string
	var elfs []string
	for _, root := range []string{PgBin, "/usr/share/postgresql/15", "/usr/share/zoneinfo"} {
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
			if d.Type().IsRegular() && (strings.HasPrefix(p, PgBin+"/bin/") || strings.HasSuffix(p, ".so")) {
				elfs = append(elfs, p)
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	// initdb runs the server through popen, and CMD-SHELL health checks
	// run through the shell: both need /bin/sh.
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
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: uid, Gid: uid, ModTime: FixedTime})
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
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: FixedTime}); err != nil {
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
			if err := parents(p); err != nil {
				return err
			}
			if err := writeSymlink(tw, p); err != nil {
				return err
			}
		default:
			// Libraries are copied at the path the loader asks for, with
			// their symbolic links resolved.
			b, mode, err := readResolved(p)
			if err != nil {
				return err
			}
			if err := file(name, b, mode); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// TagImage tags image (a reference or id) as target, so a stack that names
// a public image (postgres:15) runs a locally built one without a pull.
func TagImage(t testing.TB, cli *client.Client, image, target string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: image, Target: target}); err != nil {
		t.Fatalf("tag %s as %s: %v", image, target, err)
	}
}
