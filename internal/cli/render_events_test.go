package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/wire"
)

var sampleEvents = []wire.Event{
	{Kind: wire.EventPlan, Instance: "shop-dev", Text: "shop-dev: release 2\n  web  replace\n"},
	{Kind: wire.EventProgress, Instance: "shop-dev", Service: "web", Step: "start", Replica: "web-r2-1", Current: 1, Total: 2},
	{Kind: wire.EventStep, Instance: "shop-dev", Service: "db", Step: "keep"},
	{Kind: wire.EventWarning, Instance: "shop-dev", Message: "no backup policy for db"},
	{Kind: wire.EventStepDone, Instance: "shop-dev", Service: "web", Step: "start"},
	{Kind: wire.EventDone, Instance: "shop-dev", Release: 2},
}

func TestPlainRenderer(t *testing.T) {
	var b bytes.Buffer
	r := &plainRenderer{w: &b}
	for _, ev := range sampleEvents {
		r.Event(ev)
	}
	want := `shop-dev: release 2
  web  replace
shop-dev web-r2-1: start (1/2)
shop-dev db: keep
shop-dev: warning: no backup policy for db
shop-dev web: start done
shop-dev: done, release 2
`
	if b.String() != want {
		t.Errorf("plain output:\n%s\nwant:\n%s", b.String(), want)
	}
	if strings.Contains(b.String(), "\x1b") {
		t.Error("plain output contains ANSI escapes")
	}
}

func TestTTYRendererRewritesServiceLines(t *testing.T) {
	var b bytes.Buffer
	r := &ttyRenderer{w: &b}
	defer r.Close()
	for _, ev := range sampleEvents {
		r.Event(ev)
	}
	out := b.String()
	// Two live lines (web, db): after db appears the block is redrawn by
	// moving up two lines; the final picture shows web done.
	if !strings.Contains(out, "\x1b[2A") {
		t.Errorf("no cursor-up over the two live lines in %q", out)
	}
	if !strings.Contains(out, "✔ web") || !strings.Contains(out, "… db") {
		t.Errorf("live lines missing in %q", out)
	}
	if !strings.HasSuffix(out, "shop-dev: done, release 2\n") {
		t.Errorf("output does not end with the outcome: %q", out)
	}
	// The warning is printed above the block, not lost in it.
	if !strings.Contains(out, "shop-dev: warning: no backup policy for db\n") {
		t.Errorf("warning missing in %q", out)
	}
}

func TestJSONRendererOneEventPerLine(t *testing.T) {
	var b bytes.Buffer
	r := &jsonRenderer{enc: json.NewEncoder(&b)}
	for _, ev := range sampleEvents {
		r.Event(ev)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != len(sampleEvents) {
		t.Fatalf("%d lines for %d events", len(lines), len(sampleEvents))
	}
	var last wire.Event
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Kind != wire.EventDone || last.Release != 2 {
		t.Errorf("last line %q: %+v %v", lines[len(lines)-1], last, err)
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"10m", now.Add(-10 * time.Minute), true},
		{"1h30m", now.Add(-90 * time.Minute), true},
		{"2025-05-31T08:00:00Z", time.Date(2025, 5, 31, 8, 0, 0, 0, time.UTC), true},
		{"-5m", time.Time{}, false},
		{"yesterday", time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := parseLogTime("--since", tt.in, now)
		if (err == nil) != tt.ok || (tt.ok && !got.Equal(tt.want)) {
			t.Errorf("parseSince(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestReadLineLeavesTheRest(t *testing.T) {
	in := strings.NewReader("shop-dev\nrest of input")
	line, err := readLine(in)
	if err != nil || line != "shop-dev" {
		t.Fatalf("readLine = %q, %v", line, err)
	}
	rest := new(bytes.Buffer)
	_, _ = rest.ReadFrom(in)
	if rest.String() != "rest of input" {
		t.Errorf("rest = %q; readLine consumed past the line", rest.String())
	}
}

// TestCPUText: a replica using under 1 % of a CPU shows its use, not "-".
func TestCPUText(t *testing.T) {
	for _, tc := range []struct {
		st   wire.ReplicaStatus
		want string
	}{
		{wire.ReplicaStatus{CPUPercent: 0.4, MemoryBytes: 1 << 20}, "0.4%"},
		{wire.ReplicaStatus{CPUPercent: 12.345}, "12.3%"},
		{wire.ReplicaStatus{CPUPercent: 0.01, MemoryBytes: 1 << 20}, "<0.1%"},
		{wire.ReplicaStatus{MemoryBytes: 1 << 20}, "0.0%"},
		{wire.ReplicaStatus{}, "-"},
	} {
		if got := cpuText(tc.st); got != tc.want {
			t.Errorf("cpuText(%+v) = %q, want %q", tc.st, got, tc.want)
		}
	}
}

// TestTTYRendererShowsTimesAndFailures: a waiting step shows its elapsed
// time and the time left to its deadline, a finished one ✔ and how long it
// took, a failed one ✘ with the reason, and the failing replica's last log
// lines print above the live block.
func TestTTYRendererShowsTimesAndFailures(t *testing.T) {
	var b bytes.Buffer
	now := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	r := &ttyRenderer{w: &b, now: func() time.Time { return now }}
	defer r.Close()
	r.Event(wire.Event{Kind: wire.EventStep, Instance: "shop-dev", Service: "api", Step: "health", Message: "waiting for 1 replica(s) to be healthy",
		Deadline: now.Add(2 * time.Minute)})
	r.Event(wire.Event{Kind: wire.EventStep, Instance: "shop-dev", Service: "web", Step: "health", Deadline: now.Add(2 * time.Minute)})
	now = now.Add(3 * time.Second)
	r.Event(wire.Event{Kind: wire.EventStepDone, Instance: "shop-dev", Service: "web", Step: "health"})
	r.redraw()
	out := b.String()
	for _, want := range []string{"… api              health: waiting for 1 replica(s) to be healthy  3s, 1m57s left", "✔ web              health done  (3s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("live block lacks %q:\n%s", want, out)
		}
	}
	now = now.Add(1500 * time.Millisecond)
	r.Event(wire.Event{Kind: wire.EventStepFailed, Instance: "shop-dev", Service: "api", Replica: "api-r2-1", Step: "health",
		Message: "crashed 3 times, last with exit code 1", Text: "Traceback (most recent call last):\nModuleNotFoundError: No module named 'flask'\n"})
	r.Event(wire.Event{Kind: wire.EventFailed, Instance: "shop-dev", Error: "release 2 failed"})
	out = b.String()
	for _, want := range []string{
		"shop-dev api-r2-1: health failed: crashed 3 times, last with exit code 1\nshop-dev api-r2-1: last log lines:\n  | Traceback (most recent call last):\n  | ModuleNotFoundError: No module named 'flask'\n",
		"✘ api              api-r2-1 health failed: crashed 3 times, last with exit code 1  (4.5s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasSuffix(out, "shop-dev: failed: release 2 failed\n") {
		t.Errorf("output does not end with the outcome: %q", out)
	}
}
