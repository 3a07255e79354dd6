package stack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/goldentest"
)

// brokenOptions reads the optional "args" file of a broken stack
// ("env=prod org=acme").
func brokenOptions(t *testing.T, dir string) Options {
	t.Helper()
	opts := Options{Dir: dir, Environ: map[string]string{}}
	b, err := os.ReadFile(filepath.Join(dir, "args"))
	if errors.Is(err, os.ErrNotExist) {
		return opts
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(b)) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "env":
			opts.Env = v
		case "org":
			opts.Org = v
		default:
			t.Fatalf("unknown arg %q in %s/args", k, dir)
		}
	}
	return opts
}

func TestBrokenStacks(t *testing.T) {
	dirs, err := filepath.Glob("testdata/broken/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 40 {
		t.Fatalf("only %d broken stacks; the corpus should cover every error", len(dirs))
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			abs, err := filepath.Abs(dir)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Load(context.Background(), brokenOptions(t, dir))
			if err == nil {
				t.Fatalf("loaded without error: %d services", len(m.Services))
			}
			var le *LoadError
			if errors.As(err, &le) {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("a LoadError must match ErrInvalid")
				}
				for _, d := range le.Diagnostics {
					if d.Message == "" {
						t.Errorf("diagnostic without a message: %+v", d)
					}
				}
			} else if !errors.Is(err, ErrNoComposeFile) {
				t.Errorf("error is neither a *LoadError nor ErrNoComposeFile: %T %v", err, err)
			}
			text := strings.ReplaceAll(err.Error(), abs, "<dir>") + "\n"
			goldentest.Check(t, filepath.Join(dir, "error.golden"), []byte(text))
		})
	}
}
