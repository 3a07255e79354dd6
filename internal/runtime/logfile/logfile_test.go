package logfile

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
)

func readAll(t *testing.T, path string, opts runtime.LogOptions) string {
	t.Helper()
	rc := Read(context.Background(), path, opts, nil)
	defer func() { _ = rc.Close() }()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func dirSize(t *testing.T, dir string) (int64, []string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	var names []string
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
		names = append(names, e.Name())
	}
	return total, names
}

func TestWriterRotatesKeepingNFilesAndReadsThemInOrder(t *testing.T) {
	path := Path(t.TempDir(), "web-r1-1")
	w, err := Open(path, Limits{MaxSize: 400, Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		w.WriteLine('o', fmt.Appendf(nil, "line %02d", i))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	total, names := dirSize(t, filepath.Dir(path))
	if len(names) != 3 {
		t.Fatalf("log files = %v, want the current one and 2 rotated", names)
	}
	if total > 3*400 {
		t.Errorf("files take %d bytes, over 3 × 400", total)
	}
	lines := strings.Split(strings.TrimSpace(readAll(t, path, runtime.LogOptions{})), "\n")
	if lines[len(lines)-1] != "line 39" || !slices.IsSorted(lines) {
		t.Errorf("logs across rotated files are not in order or lack the last line:\n%s", lines)
	}
	if got := readAll(t, path, runtime.LogOptions{Tail: 3}); got != "line 37\nline 38\nline 39\n" {
		t.Errorf("tail 3 = %q", got)
	}
}

func TestReadSelectsByTimeAndPrintsTimestamps(t *testing.T) {
	path := Path(t.TempDir(), "web-r1-1")
	content := "2026-01-01T10:00:00.000000000Z o old\n" +
		"2026-01-01T12:00:00.000000000Z e new\n" +
		"2026-01-01T14:00:00.500000000Z o newer\n" +
		"not a stored line\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	at := func(h int) time.Time { return time.Date(2026, 1, 1, h, 0, 0, 0, time.UTC) }
	tests := []struct {
		name string
		opts runtime.LogOptions
		want string
	}{
		{"all", runtime.LogOptions{}, "old\nnew\nnewer\nnot a stored line\n"},
		{"since", runtime.LogOptions{Since: at(11)}, "new\nnewer\nnot a stored line\n"},
		{"since is inclusive", runtime.LogOptions{Since: at(12)}, "new\nnewer\nnot a stored line\n"},
		{"until is exclusive and ends the read", runtime.LogOptions{Until: at(12)}, "old\n"},
		{"since and until", runtime.LogOptions{Since: at(11), Until: at(13)}, "new\n"},
		// A line without a time has the time of the line before it.
		{"tail after until", runtime.LogOptions{Until: at(15), Tail: 2}, "newer\nnot a stored line\n"},
		{"until excludes a line without a time after it", runtime.LogOptions{Until: at(14)}, "old\nnew\n"},
		{"timestamps", runtime.LogOptions{Since: at(11), Until: at(15), Timestamps: true},
			"2026-01-01T12:00:00.000000000Z new\n2026-01-01T14:00:00.500000000Z newer\n2026-01-01T14:00:00.500000000Z not a stored line\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readAll(t, path, tt.opts); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFollowSeesNewLinesAcrossRotationsAndEnds(t *testing.T) {
	path := Path(t.TempDir(), "web-r1-1")
	w, err := Open(path, Limits{MaxSize: 300, Keep: 1})
	if err != nil {
		t.Fatal(err)
	}
	w.WriteLine('o', []byte("before"))
	ended := make(chan struct{})
	rc := Read(context.Background(), path, runtime.LogOptions{Follow: true, Tail: 1}, func() bool {
		select {
		case <-ended:
			return true
		default:
			return false
		}
	})
	defer func() { _ = rc.Close() }()
	br := bufio.NewReader(rc)
	first, err := br.ReadString('\n')
	if err != nil || first != "before\n" {
		t.Fatalf("follow with tail 1 starts with %q (%v), want the last line before it began", first, err)
	}
	for i := range 30 {
		w.WriteLine('o', fmt.Appendf(nil, "after %02d", i))
	}
	_ = w.Close()
	close(ended)
	b, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	// The reader may miss lines of a file that rotated twice between two
	// polls; it must see the last ones and in order.
	if lines[len(lines)-1] != "after 29" || !slices.IsSorted(lines) {
		t.Errorf("follow saw:\n%s", b)
	}
}

func TestPruneBoundsRemovedReplicasAndSparesLiveOnes(t *testing.T) {
	dir := t.TempDir()
	lim := Limits{MaxSize: 1000, Keep: 2}
	write := func(replica string, n int) {
		w, err := Open(Path(dir, replica), lim)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			w.WriteLine('o', fmt.Appendf(nil, "%s says %04d and some more text to fill the file", replica, i))
		}
		_ = w.Close()
	}
	// Ten replicas come and go (restarts, releases), each writing more than
	// its rotation keeps; web-r10-1 is the one running now.
	for i := 1; i <= 10; i++ {
		write(fmt.Sprintf("web-r%d-1", i), 100)
		if err := Prune(dir, func(r string) bool { return r == fmt.Sprintf("web-r%d-1", i) }, lim.PerReplica()); err != nil {
			t.Fatal(err)
		}
	}
	total, names := dirSize(t, dir)
	// The live replica's rotation bounds it; the removed ones share one
	// replica's worth.
	if bound := 2 * lim.PerReplica(); total > bound {
		t.Fatalf("the service's logs take %d bytes (%v), over %d", total, names, bound)
	}
	reps, err := Replicas(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(reps, "web-r10-1") || !slices.Contains(reps, "web-r9-1") || slices.Contains(reps, "web-r1-1") {
		t.Errorf("kept replicas %v: want the live one and the newest removed ones, not the oldest", reps)
	}
	if got := readAll(t, Path(dir, "web-r10-1"), runtime.LogOptions{Tail: 1}); !strings.Contains(got, "web-r10-1 says 0099") {
		t.Errorf("the live replica's last line is %q", got)
	}
}

func TestReplicaOf(t *testing.T) {
	for name, want := range map[string]string{
		"web-r1-1.log": "web-r1-1", "web-r1-1.log.3": "web-r1-1", "a.log.x": "", "readme": "", ".log": "",
	} {
		if got := replicaOf(name); got != want {
			t.Errorf("replicaOf(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestWriterTimesNeverGoBack: stdout and stderr reach the writer from two
// goroutines, so a line stamped earlier can arrive after a later one; the
// file keeps arrival order and its times never go back, which the merge
// of several replicas' files relies on (seen: a stderr line 8µs "before"
// the stdout line written ahead of it).
func TestWriterTimesNeverGoBack(t *testing.T) {
	path := Path(t.TempDir(), "web-r1-1")
	w, err := Open(path, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 12, 0, 0, 10_000, time.UTC)
	w.WriteLineAt(at, 'o', []byte("started"))
	w.WriteLineAt(at.Add(-8*time.Microsecond), 'e', []byte("hello on stderr"))
	w.WriteLineAt(at.Add(time.Second), 'o', []byte("later"))
	got := readAll(t, path, runtime.LogOptions{Timestamps: true})
	want := "2026-01-01T12:00:00.000010000Z started\n2026-01-01T12:00:00.000010000Z hello on stderr\n2026-01-01T12:00:01.000010000Z later\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
