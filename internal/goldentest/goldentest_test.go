package goldentest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// recorder is a testing.TB that keeps what a helper reports instead of
// failing the test that runs it.
type recorder struct {
	testing.TB
	errs  []string
	fatal bool
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.fatal = true
	runtime.Goexit()
}

// run calls f with a recorder, on its own goroutine so that Fatal can end it.
func run(f func(tb testing.TB)) *recorder {
	r := &recorder{}
	var wg sync.WaitGroup
	wg.Go(func() { f(r) })
	wg.Wait()
	return r
}

func withUpdate(t *testing.T, on bool) {
	old := *update
	*update = on
	t.Cleanup(func() { *update = old })
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "a.golden")

	withUpdate(t, false)
	if r := run(func(tb testing.TB) { Check(tb, path, []byte("one\n")) }); !r.fatal || !strings.Contains(r.errs[0], "-update") {
		t.Errorf("missing golden file: %+v, want a fatal error saying to run with -update", r)
	}

	withUpdate(t, true)
	if r := run(func(tb testing.TB) { Check(tb, path, []byte("one\ntwo\n")) }); len(r.errs) > 0 {
		t.Fatalf("-update: %v", r.errs)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "one\ntwo\n" {
		t.Fatalf("-update wrote %q, %v", b, err)
	}

	withUpdate(t, false)
	if r := run(func(tb testing.TB) { Check(tb, path, []byte("one\ntwo\n")) }); len(r.errs) > 0 {
		t.Errorf("same output: %v", r.errs)
	}
	r := run(func(tb testing.TB) { Check(tb, path, []byte("one\n2\n")) })
	if len(r.errs) != 1 || r.fatal || !strings.Contains(r.errs[0], "line 2:\n  want: two\n  got:  2") {
		t.Errorf("different output: %+v, want one error naming line 2", r)
	}
}

func TestStale(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"kept.txt", "gone.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pattern, kept, gone := filepath.Join(dir, "*.txt"), filepath.Join(dir, "kept.txt"), filepath.Join(dir, "gone.txt")

	withUpdate(t, false)
	r := run(func(tb testing.TB) { Stale(tb, pattern, []string{kept}) })
	if len(r.errs) != 1 || !strings.Contains(r.errs[0], gone) {
		t.Errorf("stale file: %+v, want one error naming %s", r, gone)
	}

	withUpdate(t, true)
	if r := run(func(tb testing.TB) { Stale(tb, pattern, []string{kept}) }); len(r.errs) > 0 {
		t.Fatalf("-update: %v", r.errs)
	}
	if _, err := os.Stat(gone); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("-update left %s: %v", gone, err)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("-update removed %s: %v", kept, err)
	}
}
