// Package goldentest compares what a test produced with a golden file under
// testdata, and rewrites the golden files when the test runs with -update:
// the stack loader's, the lint rules', the renderers' and the planner's tests
// share it. It is a test helper and must not be imported by code that ships.
package goldentest

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files instead of comparing with them")

// wholeLines is how long an output may be and still be printed in full when
// it differs from its golden file; longer ones show the first difference.
const wholeLines = 60

// Update reports whether the test runs with -update.
func Update() bool { return *update }

// Check compares got with the golden file at path. With -update it writes got
// to path instead (creating its directory) and passes.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	msg := FirstDiff(want, got)
	if bytes.Count(got, []byte("\n")) <= wholeLines {
		msg += fmt.Sprintf("\n--- got\n%s--- want\n%s", got, want)
	}
	t.Errorf("%s differs (run the test with -update after checking the change): %s", path, msg)
}

// Stale fails for each file matching pattern that is not among checked, the
// golden files the test compared: a file whose fixture is gone. With -update
// it removes them instead.
func Stale(t testing.TB, pattern string, checked []string) {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if slices.Contains(checked, f) {
			continue
		}
		if !*update {
			t.Errorf("%s has no fixture any more (run the test with -update to remove it)", f)
			continue
		}
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
}

// FirstDiff names the first line where got and want differ.
func FirstDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := range max(len(wl), len(gl)) {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\n  want: %s\n  got:  %s", i+1, w, g)
		}
	}
	return "(no line differs)"
}
