package stack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the loader as compose.yaml: whatever the
// input, Load returns a model or an error, and never panics.
func FuzzLoad(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join(fixtures, "*", "compose.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	broken, err := filepath.Glob("testdata/broken/*/compose.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range append(seeds, broken...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		m, err := Load(context.Background(), Options{Dir: dir, Environ: map[string]string{}})
		if err != nil {
			var le *LoadError
			if errors.As(err, &le) && len(le.Diagnostics) == 0 {
				t.Fatal("a LoadError without diagnostics")
			}
			return
		}
		for _, s := range m.Services {
			if s.Hash == "" {
				t.Fatalf("service %s has no hash", s.Name)
			}
		}
	})
}
