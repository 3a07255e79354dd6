package engine

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/process"
	"github.com/quai-dev/quai/internal/stack"
)

// slowReattach is the process runtime whose Reattach of one instance's
// replicas blocks until released: an instance so large that re-attaching
// it takes as long as the test wants.
type slowReattach struct {
	*process.Runtime
	instance string
	entered  chan struct{}
	release  chan struct{}
}

func (s *slowReattach) Reattach(ctx context.Context, h runtime.Handle) error {
	if h.Instance.Name() == s.instance {
		select {
		case s.entered <- struct{}{}:
		default:
		}
		select {
		case <-s.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.Runtime.Reattach(ctx, h)
}

// TestRecoverDoesNotHoldOtherInstances: a starting daemon serves at once
// and a verb on one instance does not wait while another, slow instance is
// re-attached; a verb on the slow one waits for its recovery, as for any
// running operation.
func TestRecoverDoesNotHoldOtherInstances(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	slowID, quickID := appID, stack.Identity{Org: stack.DefaultOrg, Project: "quick", Env: "test"}
	t.Cleanup(func() { h.removeReplicas(quickID) })
	for _, id := range []stack.Identity{slowID, quickID} {
		var ev events
		m := h.appModel("v1", func(m *stack.Model) {
			m.Identity, m.Routes = id, nil
			m.Services = m.Services[:1] // backend only
		})
		if _, err := h.eng.Up(ctx, UpRequest{Model: m}, ev.emit); err != nil {
			t.Fatalf("up %s: %v", id, err)
		}
	}

	h.crash()
	slow := &slowReattach{instance: slowID.Name(), entered: make(chan struct{}, 1), release: make(chan struct{})}
	h.wrap = func(rt *process.Runtime) runtime.Runtime { slow.Runtime = rt; return slow }
	h.start()
	released := false
	release := func() {
		if !released {
			released = true
			close(slow.release)
		}
	}
	t.Cleanup(release)

	recovered := make(chan error, 1)
	go func() { recovered <- h.eng.Recover(ctx) }()
	select {
	case err := <-recovered:
		if err != nil {
			t.Fatalf("recover: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("Recover has not returned a minute after it started, while %s is still being re-attached: the daemon would not serve", slowID)
	}
	select {
	case <-slow.entered:
	case <-time.After(time.Minute):
		t.Fatalf("the recovery of %s never re-attached its replicas", slowID)
	}

	// Once its own recovery is done, a verb on the other instance goes
	// through without waiting.
	until(t, "the recovery of "+quickID.Name()+" ends", func() bool {
		h.eng.mu.Lock()
		defer h.eng.mu.Unlock()
		return !h.eng.recoveringNow[quickID.Name()]
	})
	var quick events
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := h.eng.Down(dctx, quickID.Name(), quick.emit); err != nil {
		t.Fatalf("down %s while %s recovers: %v (events %v)", quickID, slowID, err, quick.kinds())
	}
	if slices.Contains(quick.kinds(), EventWaiting) {
		t.Errorf("down %s waited for the recovery of %s: %v", quickID, slowID, quick.kinds())
	}

	// A verb on the instance still recovering waits for it.
	var waiting events
	downed := make(chan error, 1)
	go func() { downed <- h.eng.Down(dctx, slowID.Name(), waiting.emit) }()
	for !slices.Contains(waiting.kinds(), EventWaiting) {
		select {
		case err := <-downed:
			t.Fatalf("down %s ended (%v) while its recovery still ran: %v", slowID, err, waiting.kinds())
		case <-dctx.Done():
			t.Fatalf("down %s neither waited nor ended: %v", slowID, waiting.kinds())
		case <-time.After(10 * time.Millisecond):
		}
	}
	release()
	if err := <-downed; err != nil {
		t.Fatalf("down %s after its recovery: %v", slowID, err)
	}
	waiting.checkTerminal(t, EventDone)
	if hs := handleNames(t, h.store, slowID.Name()); len(hs) != 0 {
		t.Errorf("replicas of %s recorded after down: %v", slowID, hs)
	}
}

// removeReplicas stops and removes whatever runs of the instance, through
// a fresh runtime, whatever state the test ended in.
func (h *harness) removeReplicas(id stack.Identity) {
	rt, err := process.New(process.Options{DataDir: h.dataDir, ShimPath: "/bin/false", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return
	}
	ctx := context.Background()
	hs, _ := rt.List(ctx, id)
	for _, hd := range hs {
		_ = rt.Stop(ctx, hd, 2*time.Second)
		_ = rt.Remove(ctx, hd)
	}
	_ = rt.Close()
}

// until polls cond until it holds, and fails the test after a minute.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not the case after a minute", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
