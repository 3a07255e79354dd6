package docker

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/docker/dockertest"
)

// newRuntime connects to the engine of DOCKER_HOST or the local socket, and
// skips the test when there is none, except in CI, which installs and starts
// one: there a missing engine fails the test.
func newRuntime(t *testing.T, opts Options) *Runtime {
	t.Helper()
	if opts.StateDir == "" {
		opts.StateDir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := New(ctx, opts)
	if errors.Is(err, runtime.ErrUnavailable) && !dockertest.CI() {
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
var fixedTime = dockertest.FixedTime

// goBuildStatic builds a package of this module as a static binary.
func goBuildStatic(t *testing.T, pkg, out string) {
	t.Helper()
	dockertest.GoBuildStatic(t, ".", pkg, out)
}

// testAppImage builds the test app (runtimetest.AppMain plus dial) into a
// FROM scratch image through the Engine API and returns its reference.
func testAppImage(t *testing.T, r *Runtime) string {
	t.Helper()
	dir := t.TempDir()
	goBuildStatic(t, "../runtimetest/testapp", filepath.Join(dir, "app"))
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

// postgresImage is the PostgreSQL image dockertest makes from the host's
// Debian packages.
func postgresImage(t *testing.T, r *Runtime) string {
	t.Helper()
	return dockertest.PostgresImage(t, r.cli)
}

func newTarReader(r io.Reader) *tar.Reader { return tar.NewReader(r) }
