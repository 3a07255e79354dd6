// Package e2etest holds what the end-to-end tests under test/e2e share,
// whatever runtime they deploy on: a copy of the users-api example with its
// binaries built, CLI verbs run in-process against a daemon's socket, a
// client of an instance's site through quai's proxy, and a bounded
// concurrent load on that site.
//
// It is a normal package so that several test packages can import it, but
// only tests import it; production code never does. It imports the CLI and
// dockertest's static Go build, never a runtime.
package e2etest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/cli"
	"github.com/quai-dev/quai/internal/runtime/docker/dockertest"
)

// ExampleDir is the users-api example of this repository, found from the
// test's working directory (a package directory inside the module).
func ExampleDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "examples", "users-api")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory: run the test inside the quai module")
		}
		dir = parent
	}
}

// Project copies the example's stack, overlays, Dockerfiles and static
// files into a new directory named users-api and builds its static binaries
// into bin/, as `make -C examples/users-api` does, so that both the process
// runtime (./bin/api) and the Dockerfiles find them. overlays maps more
// files to write (path relative to the project to content).
func Project(t testing.TB, overlays map[string]string) string {
	t.Helper()
	example := ExampleDir(t)
	dir := filepath.Join(t.TempDir(), "users-api")
	files := []string{"compose.yaml", "api/Dockerfile", "web/Dockerfile"}
	for _, glob := range []string{"envs/*.yaml", "web/static/*"} {
		m, err := filepath.Glob(filepath.Join(example, glob))
		if err != nil || len(m) == 0 {
			t.Fatalf("example files %s: %v (found %d)", glob, err, len(m))
		}
		for _, p := range m {
			rel, err := filepath.Rel(example, p)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, rel)
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(example, f))
		if err != nil {
			t.Fatal(err)
		}
		WriteFile(t, dir, f, string(b))
	}
	for f, body := range overlays {
		WriteFile(t, dir, f, body)
	}
	for _, p := range []string{"api", "web"} {
		dockertest.GoBuildStatic(t, example, "./"+p, filepath.Join(dir, "bin", p))
	}
	return dir
}

// WriteFile writes body to rel inside dir, making the directories on the
// way; rel cannot leave dir.
func WriteFile(t testing.TB, dir, rel, body string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = root.Close() }()
	if err := root.MkdirAll(filepath.Dir(rel), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := root.WriteFile(rel, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// SetVersion sets the APP_VERSION the stack interpolates (image tags and
// the api's environment) in the project's .env: a new value replaces api
// and web.
func SetVersion(t testing.TB, dir, v string) {
	t.Helper()
	WriteFile(t, dir, ".env", "APP_VERSION="+v+"\n")
}

// Quai runs a CLI verb against the daemon at socket and returns its output
// and exit code.
func Quai(t testing.TB, socket string, args ...string) (string, int) {
	t.Helper()
	return QuaiIn(t, socket, "", args...)
}

// QuaiIn is Quai with stdin (a secret's value for `quai secrets set`).
func QuaiIn(t testing.TB, socket, stdin string, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	code := cli.Run(ctx, append([]string{"--socket", socket}, args...), strings.NewReader(stdin), &out, &out)
	return out.String(), code
}

// MustQuai runs a verb that must succeed and returns its output.
func MustQuai(t testing.TB, socket string, args ...string) string {
	t.Helper()
	out, code := Quai(t, socket, args...)
	if code != 0 {
		t.Fatalf("quai %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// DataDir returns a new daemon data directory that other system users can
// enter, as /var/lib/quai is: the process runtime runs PostgreSQL as the
// postgres user when the tests run as root, and it must reach its data
// directory inside (t.TempDir makes directories only their owner enters).
func DataDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/" && d != "."; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil { //nolint:gosec // directories, searchable as /var/lib/quai is
			t.Fatal(err)
		}
	}
	return dir
}

// PlainRoutes is an environment overlay like dev's: plain HTTP routes on
// the local proxy, one replica each.
const PlainRoutes = `x-quai:
  routes: !override
    - path: /api
      service: api
      port: 8080
      tls: "off"
    - path: /
      service: web
      port: 8080
      tls: "off"
services:
  api:
    x-quai:
      replicas: 1
  web:
    x-quai:
      replicas: 1
`
