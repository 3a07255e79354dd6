package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// logLines reads an instance's logs to the end.
func logLines(t *testing.T, e *Engine, instance string, services []string, opts runtime.LogOptions) []wire.LogLine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rc, err := e.Logs(ctx, instance, services, opts)
	if err != nil {
		t.Fatalf("logs of %s %v: %v", instance, services, err)
	}
	defer func() { _ = rc.Close() }()
	var out []wire.LogLine
	dec := json.NewDecoder(rc)
	for {
		var l wire.LogLine
		if err := dec.Decode(&l); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("logs of %s: %v", instance, err)
			}
			return out
		}
		out = append(out, l)
	}
}

// texts is "replica: line" for each line.
func texts(lines []wire.LogLine) []string {
	var out []string
	for _, l := range lines {
		out = append(out, l.Replica+": "+l.Line)
	}
	return out
}

// replicaAddr is the address of a running replica of the test instance.
func (h *harness) replicaAddr(t *testing.T, replica string) string {
	t.Helper()
	hs, err := h.store.Handles(context.Background(), appID.Name())
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range hs {
		if x.Replica == replica {
			return x.Address
		}
	}
	t.Fatalf("no replica %s among %v", replica, handleNames(t, h.store, appID.Name()))
	return ""
}

// say makes a replica print msg and waits until its logs show it, so that
// lines said one after the other are recorded in that order.
func (h *harness) say(t *testing.T, replica, msg string) {
	t.Helper()
	resp, err := h.client.Get("http://" + h.replicaAddr(t, replica) + "/say?msg=" + msg)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if len(logLines(t, h.eng, appID.Name(), nil, runtime.LogOptions{Grep: "^" + msg + "$"})) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the logs never showed %s from %s", msg, replica)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLogsMergeReplicasInTimeAcrossRestarts writes lines in a known order
// across two services and three replicas, reads them back merged, selects
// them by time, tail and pattern, and finds them again after the replicas
// were restarted and after the daemon was.
func TestLogsMergeReplicasInTimeAcrossRestarts(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	name := appID.Name()
	h.up(t, "v1", nil)

	order := []string{"backend-r1-1", "web-r1-2", "web-r1-1", "backend-r1-1", "web-r1-1", "web-r1-2"}
	var want []string
	for i, r := range order {
		msg := fmt.Sprintf("order-%02d", i)
		h.say(t, r, msg)
		want = append(want, r+": "+msg)
	}
	got := logLines(t, h.eng, name, nil, runtime.LogOptions{Grep: "^order-"})
	if strings.Join(texts(got), "\n") != strings.Join(want, "\n") {
		t.Fatalf("merged logs:\n%s\nwant:\n%s", strings.Join(texts(got), "\n"), strings.Join(want, "\n"))
	}
	for _, l := range got {
		if l.Time.IsZero() || !strings.HasPrefix(l.Replica, l.Service+"-") {
			t.Errorf("line %+v lacks its time or service", l)
		}
	}

	t.Run("since-until", func(t *testing.T) {
		lines := logLines(t, h.eng, name, nil, runtime.LogOptions{Grep: "^order-", Since: got[2].Time, Until: got[4].Time})
		if s := strings.Join(texts(lines), ","); s != want[2]+","+want[3] {
			t.Errorf("since line 2 until line 4: %s", s)
		}
	})
	t.Run("tail-per-replica", func(t *testing.T) {
		lines := logLines(t, h.eng, name, nil, runtime.LogOptions{Grep: "^order-", Tail: 1})
		if s := strings.Join(texts(lines), ","); s != want[3]+","+want[4]+","+want[5] {
			t.Errorf("the last matching line of each replica, in time order: %s", s)
		}
		lines = logLines(t, h.eng, name, []string{"backend"}, runtime.LogOptions{Tail: 1})
		if len(lines) != 1 || lines[0].Replica != "backend-r1-1" {
			t.Errorf("tail 1 of backend: %v", texts(lines))
		}
	})
	t.Run("grep", func(t *testing.T) {
		lines := logLines(t, h.eng, name, []string{"web"}, runtime.LogOptions{Grep: "order-0[15]"})
		if s := strings.Join(texts(lines), ","); s != want[1]+","+want[5] {
			t.Errorf("grep order-0[15] in web: %s", s)
		}
		if _, err := h.eng.Logs(ctx, name, nil, runtime.LogOptions{Grep: "("}); !errors.Is(err, ErrInvalid) {
			t.Errorf("a bad pattern: %v, want ErrInvalid", err)
		}
	})
	t.Run("health-probes-say-who-they-are", func(t *testing.T) {
		resp, err := h.client.Get("http://" + h.replicaAddr(t, "web-r1-1") + "/health-agent")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if string(b) != runtime.HealthUserAgent {
			t.Errorf("the app saw health probes as %q, want %q", b, runtime.HealthUserAgent)
		}
	})
	t.Run("follow", func(t *testing.T) {
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		rc, err := h.eng.Logs(fctx, name, nil, runtime.LogOptions{Follow: true, Tail: 1, Grep: "order-|follow-"})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = rc.Close() }()
		dec := json.NewDecoder(rc)
		next := func() string {
			var l wire.LogLine
			if err := dec.Decode(&l); err != nil {
				t.Fatalf("following: %v", err)
			}
			return l.Replica + ": " + l.Line
		}
		for i := 3; i <= 5; i++ {
			if s := next(); s != want[i] {
				t.Fatalf("following with tail 1 began with %q, want %q", s, want[i])
			}
		}
		for _, r := range []string{"web-r1-2", "backend-r1-1"} {
			resp, err := h.client.Get("http://" + h.replicaAddr(t, r) + "/say?msg=follow-" + r)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if s := next(); s != r+": follow-"+r {
				t.Fatalf("following saw %q, want the line %s just wrote", s, r)
			}
		}
	})

	// A restart replaces the web replicas; a new release replaces backend.
	var ev events
	if err := h.eng.Restart(ctx, name, "web", ev.emit); err != nil {
		t.Fatal(err)
	}
	h.up(t, "v1", func(m *stack.Model) { m.Services[0].Environment["VERSION"] = "b2" })
	h.crash()
	h.start()
	lines := logLines(t, h.eng, name, nil, runtime.LogOptions{Grep: "^order-"})
	if strings.Join(texts(lines), "\n") != strings.Join(want, "\n") {
		t.Errorf("after restarts of the replicas and of the daemon, the merged logs:\n%s\nwant:\n%s",
			strings.Join(texts(lines), "\n"), strings.Join(want, "\n"))
	}
	now := handleNames(t, h.store, name)
	if strings.Contains(strings.Join(now, ","), "web-r1-1,") || strings.Contains(strings.Join(now, ","), "backend-r1-1") {
		t.Errorf("the replicas were not replaced: %v", now)
	}
	t.Logf("replicas now %v; lines of removed ones still shown:\n%s", now, strings.Join(texts(lines), "\n"))
}
