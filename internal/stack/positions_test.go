package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// bomb writes a "billion laughs" compose.yaml: levels anchors of width
// aliases each, width^levels scalars once expanded.
func bomb(t testing.TB, levels, width int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("x-l0: &l0 [" + strings.TrimSuffix(strings.Repeat(`"lol", `, width), ", ") + "]\n")
	for i := 1; i < levels; i++ {
		fmt.Fprintf(&b, "x-l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), width), ", "))
	}
	fmt.Fprintf(&b, "x-lol: *l%d\nservices:\n  web:\n    image: nginx:1.27\n", levels-1)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestLoadAliasBombBounded loads a 10^6-scalar bomb (about 400 bytes) and
// measures what the load allocated: walking every alias for positions used to
// allocate hundreds of megabytes for it (and without bound for deeper ones);
// the alias budget stops the walk after a few thousand nodes.
func TestLoadAliasBombBounded(t *testing.T) {
	dir := bomb(t, 6, 10)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Load(context.Background(), Options{Dir: dir, Environ: map[string]string{}})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "excessive aliasing") {
		t.Fatalf("want an excessive aliasing diagnostic, got %v", err)
	}
	if !strings.HasPrefix(err.Error(), "compose.yaml:") {
		t.Errorf("the diagnostic names no position: %v", err)
	}
	const budget = 16 << 20
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > budget {
		t.Errorf("loading a %d-byte bomb allocated %d MiB, want under %d MiB", fileSize(t, dir), allocated>>20, budget>>20)
	}
}

func fileSize(t testing.TB, dir string) int64 {
	fi, err := os.Stat(filepath.Join(dir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestLoadAliasWithinBudget: ordinary anchor reuse stays allowed.
func TestLoadAliasWithinBudget(t *testing.T) {
	dir := bomb(t, 2, 9)
	if _, err := Load(context.Background(), Options{Dir: dir, Environ: map[string]string{}}); err != nil {
		t.Fatal(err)
	}
}

// TestLoadCanceled: a load whose context has ended returns the context's
// error, not a diagnostic, whether the stack is valid or a bomb.
func TestLoadCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, dir := range map[string]string{
		"fixture": filepath.Join(fixtures, "users-api"),
		"bomb":    bomb(t, 9, 9),
	} {
		t.Run(name, func(t *testing.T) {
			m, err := Load(ctx, Options{Dir: dir, Environ: map[string]string{}})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("want context.Canceled, got model %v, error %v", m != nil, err)
			}
		})
	}
}

// TestIndexWalkCanceled: the position walk itself looks at its context, so
// a large document (within the alias budget) stops when Ctrl-C cancels it.
func TestIndexWalkCanceled(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-big:\n")
	for i := range 3 * ctxCheckEvery {
		fmt.Fprintf(&b, "  k%d: v\n", i)
	}
	doc, d := parseYAML("compose.yaml", []byte(b.String()))
	if d != nil {
		t.Fatal(d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	idx := newPosIndex()
	if _, err := idx.add(ctx, "compose.yaml", doc); !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	if len(idx.keys) >= 3*ctxCheckEvery {
		t.Errorf("the walk indexed all %d keys after its context ended", len(idx.keys))
	}
}
