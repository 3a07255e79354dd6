package docker

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestContextSumIgnoresTimes: a build context whose files are written
// again with the same content (a checkout, a generated .env) keeps its
// sum, so the image is not built again; a changed byte, a new file, a
// changed argument or Dockerfile each change it.
func TestContextSumIgnoresTimes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", "FROM scratch\nCOPY app /app\n")
	write("app", "binary")
	write(".env", "APP_VERSION=1\n")
	b := BuildSpec{Dockerfile: "Dockerfile", Args: map[string]string{"A": "1"}}
	sum := func(b BuildSpec) string {
		t.Helper()
		s, err := contextSum(dir, nil, b)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := sum(b)

	later := time.Now().Add(time.Hour)
	for _, f := range []string{"Dockerfile", "app", ".env"} {
		if err := os.Chtimes(filepath.Join(dir, f), later, later); err != nil {
			t.Fatal(err)
		}
	}
	write(".env", "APP_VERSION=1\n")
	if got := sum(b); got != first {
		t.Errorf("the same content with new times sums %s, want %s", got, first)
	}

	write(".env", "APP_VERSION=2\n")
	changed := sum(b)
	if changed == first {
		t.Error("a changed file keeps the sum")
	}
	write(".env", "APP_VERSION=1\n")
	if got := sum(b); got != first {
		t.Errorf("the first content again sums %s, want %s", got, first)
	}
	write("extra", "")
	if got := sum(b); got == first {
		t.Error("a new empty file keeps the sum")
	}
	if err := os.Remove(filepath.Join(dir, "extra")); err != nil {
		t.Fatal(err)
	}
	if got := sum(BuildSpec{Dockerfile: "Dockerfile", Args: map[string]string{"A": "2"}}); got == first {
		t.Error("a changed build argument keeps the sum")
	}
	if got := sum(BuildSpec{Dockerfile: "Dockerfile", Target: "x", Args: b.Args}); got == first {
		t.Error("a target keeps the sum")
	}
}
