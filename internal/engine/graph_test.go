package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// markSvc is one service of a markModel: its replicas, what their health
// needs (see missingMarks), its dependencies and the app mode ("mark" by
// default; "fail" exits with 1 at once and is not restarted).
type markSvc struct {
	name     string
	replicas int
	needs    string
	deps     []stack.Dependency
	mode     string
}

// markModel is a stack of test apps that leave marks in dir.
func (h *harness) markModel(dir string, svcs ...markSvc) *stack.Model {
	exe, err := os.Executable()
	if err != nil {
		h.t.Fatal(err)
	}
	m := &stack.Model{Identity: appID, Dir: h.projDir}
	for _, s := range svcs {
		mode := s.mode
		if mode == "" {
			mode = "mark"
		}
		svc := &stack.Service{Name: s.name, Replicas: s.replicas, HealthPath: "/healthz", DependsOn: s.deps,
			Environment: map[string]string{"MARK_DIR": dir, "MARK": s.name, "HEALTH_NEEDS": s.needs},
			Process:     &stack.Process{Command: []string{exe}, Env: map[string]string{appEnv: mode}}}
		if mode == "fail" {
			svc.Restart = "no"
		}
		svc.Hash = serviceHash(svc)
		m.Services = append(m.Services, svc)
	}
	return m
}

func markDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "seq"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// marks returns the sequence numbers of the marks whose names start with
// prefix ("db.start.", "db.healthy.").
func marks(t *testing.T, dir, prefix string) []int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(string(b))
		if err != nil {
			t.Fatalf("mark %s: %v", e.Name(), err)
		}
		out = append(out, n)
	}
	return out
}

// checkSteps asserts that every step event a service's work emitted got
// its step-done, however the concurrent services' events interleave.
func (ev *events) checkSteps(t *testing.T, steps ...string) {
	t.Helper()
	ev.mu.Lock()
	defer ev.mu.Unlock()
	open := map[string]int{}
	for _, e := range ev.list {
		for _, s := range steps {
			if e.Step != s {
				continue
			}
			key := e.Step + " " + e.Service + " " + e.Replica
			switch e.Kind {
			case EventStep:
				open[key]++
			case EventStepDone:
				open[key]--
				if open[key] < 0 {
					t.Errorf("%s: step-done without its step", key)
				}
			}
		}
	}
	for k, n := range open {
		if n != 0 {
			t.Errorf("%s: %d step(s) without step-done", k, n)
		}
	}
}

// TestIndependentServicesStartConcurrently: a and b (two replicas each)
// only become healthy once all four replicas have started, so started one
// service after the other (or one replica after the other, waiting for
// health in between) the deploy cannot succeed.
func TestIndependentServicesStartConcurrently(t *testing.T) {
	h := newHarness(t)
	dir := markDir(t)
	m := h.markModel(dir,
		markSvc{name: "a", replicas: 2, needs: "a=2,b=2"},
		markSvc{name: "b", replicas: 2, needs: "a=2,b=2"})
	var ev events
	rel, err := h.eng.Up(context.Background(), UpRequest{Model: m}, ev.emit)
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	ev.checkTerminal(t, EventDone)
	ev.checkSteps(t, "start", "health")
	if rel.Status != ReleaseActive {
		t.Errorf("release status %s, want active", rel.Status)
	}
	if got := len(marks(t, dir, "a.healthy.")) + len(marks(t, dir, "b.healthy.")); got != 4 {
		t.Errorf("%d replicas became healthy, want 4", got)
	}
	if names := handleNames(t, h.store, rel.Instance); len(names) != 4 {
		t.Errorf("recorded replicas %v, want 4", names)
	}
}

// TestDependentsWaitForTheirCondition: api (service_healthy on db) starts
// only after db was healthy; worker (service_started on db) and web
// (independent) start before db is healthy, since db's health needs them.
func TestDependentsWaitForTheirCondition(t *testing.T) {
	h := newHarness(t)
	dir := markDir(t)
	m := h.markModel(dir,
		markSvc{name: "api", replicas: 2, deps: []stack.Dependency{{Service: "db", Condition: stack.ConditionHealthy}}},
		markSvc{name: "db", replicas: 1, needs: "web=1,worker=1"},
		markSvc{name: "web", replicas: 1},
		markSvc{name: "worker", replicas: 1, deps: []stack.Dependency{{Service: "db", Condition: stack.ConditionStarted}}})
	var ev events
	if _, err := h.eng.Up(context.Background(), UpRequest{Model: m}, ev.emit); err != nil {
		t.Fatalf("up: %v", err)
	}
	ev.checkTerminal(t, EventDone)
	ev.checkSteps(t, "start", "health")
	dbHealthy := marks(t, dir, "db.healthy.")
	if len(dbHealthy) != 1 {
		t.Fatalf("db healthy marks %v, want one", dbHealthy)
	}
	dbStart := marks(t, dir, "db.start.")
	apiStarts := marks(t, dir, "api.start.")
	if len(apiStarts) != 2 || len(dbStart) != 1 {
		t.Fatalf("api start marks %v, db start marks %v", apiStarts, dbStart)
	}
	for _, s := range apiStarts {
		if s < dbHealthy[0] {
			t.Errorf("an api replica started (mark %d) before db was healthy (mark %d)", s, dbHealthy[0])
		}
	}
	// service_started holds once the runtime has started db's replica, not
	// once db's program has run far enough to write its mark (which a
	// loaded machine may delay past worker's): compare when the runtime
	// started each.
	started := map[string]time.Time{}
	listed, err := h.rt.List(context.Background(), appID)
	if err != nil {
		t.Fatal(err)
	}
	for _, hd := range listed {
		st, err := h.rt.Inspect(context.Background(), hd)
		if err != nil {
			t.Fatal(err)
		}
		started[hd.Service] = st.Started
	}
	if started["db"].IsZero() || started["worker"].IsZero() {
		t.Fatalf("start times %v, want db's and worker's", started)
	}
	if started["worker"].Before(started["db"]) {
		t.Errorf("worker's replica started at %s, before db's at %s", started["worker"], started["db"])
	}
}

// TestConcurrentFailureUndoesEverything: a failing job stops the whole
// deploy: the independent service started alongside it is stopped too and
// the service waiting for the job never starts.
func TestConcurrentFailureUndoesEverything(t *testing.T) {
	h := newHarness(t)
	dir := markDir(t)
	m := h.markModel(dir,
		markSvc{name: "migrate", replicas: 1, mode: "fail"},
		markSvc{name: "api", replicas: 1, deps: []stack.Dependency{{Service: "migrate", Condition: stack.ConditionCompleted}}},
		markSvc{name: "web", replicas: 2})
	var ev events
	rel, err := h.eng.Up(context.Background(), UpRequest{Model: m}, ev.emit)
	if !errors.Is(err, ErrUnhealthy) {
		t.Fatalf("up: %v, want %v", err, ErrUnhealthy)
	}
	ev.checkTerminal(t, EventFailed)
	if rel.Status != ReleaseFailed {
		t.Errorf("release status %s, want failed", rel.Status)
	}
	if got := marks(t, dir, "api.start."); len(got) != 0 {
		t.Errorf("api started although migrate failed: %v", got)
	}
	listed, err := h.rt.List(context.Background(), appID)
	if err != nil {
		t.Fatal(err)
	}
	for _, hd := range listed {
		st, err := h.rt.Inspect(context.Background(), hd)
		if err == nil && st.State == runtime.StateRunning {
			t.Errorf("replica %s still runs after the failed deploy", hd.Replica)
		}
	}
}
