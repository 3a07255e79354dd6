package lint

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/stack"
)

// FuzzSources feeds arbitrary stack text to the raw-value reader and the
// substitution scanner: they read user files and must never panic, and the
// scanner's masked text keeps every byte outside substitutions.
func FuzzSources(f *testing.F) {
	f.Add([]byte(baseYAML))
	f.Add([]byte(overlayYAML))
	f.Add([]byte("services:\n  a:\n    environment: &e\n      X: ${A:-${B:-c}}\n  b:\n    environment: *e\n"))
	f.Add([]byte("services: {a: {environment: [\"K=${V:?x}\", K2]}}"))
	bomb, err := os.ReadFile("../stack/testdata/broken/yaml-bomb/compose.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bomb)
	f.Fuzz(func(t *testing.T, b []byte) {
		src, err := ParseSources([]string{"compose.yaml"}, map[string][]byte{"compose.yaml": b})
		if err != nil {
			return
		}
		for svc, env := range src.env {
			for k, raw := range env {
				masked, defaults := scanRaw(raw)
				if !strings.Contains(raw, "${") && masked != raw {
					t.Errorf("%s.%s: masked %q differs from %q without substitutions", svc, k, masked, raw)
				}
				_ = literalDefault(masked, defaults)
				_, _ = urlPassword(masked)
			}
		}
	})
}

// BenchmarkCheck lints the largest fixture (users-api for acme in prod, with
// its raw sources), the lint share of the load + lint + render budget.
func BenchmarkCheck(b *testing.B) {
	m, err := stack.Load(context.Background(), stack.Options{
		Dir: filepath.Join(fixturesDir, "users-api"), Env: "prod", Org: "acme", Environ: map[string]string{},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("check", func(b *testing.B) {
		for b.Loop() {
			Check(m, Options{})
		}
	})
	b.Run("sources+check", func(b *testing.B) {
		for b.Loop() {
			src, err := ReadSources(m)
			if err != nil {
				b.Fatal(err)
			}
			Check(m, Options{Sources: src})
		}
	})
}
