package docker

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// TestWatchReplicasReportsCrashNotStop: a container whose app exits by
// itself is reported (die, with its exit code) and its restart by the
// engine's restart policy too; a container the runtime stops is not.
func TestWatchReplicasReportsCrashNotStop(t *testing.T) {
	r := newRuntime(t, Options{})
	img := testAppImage(t, r)
	f := newFixture(t, r)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := r.WatchReplicas(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := stack.Identity{Project: "watch", Env: "test"}
	h := f.start(appSpec(id, img, "web", "web-1"))
	f.waitHealthy(h)
	if resp, err := http.Get("http://" + h.Address + "/crash"); err == nil {
		_ = resp.Body.Close()
	}
	next := func() runtime.ReplicaEvent {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(30 * time.Second):
			t.Fatal("no replica event within 30s")
		}
		return runtime.ReplicaEvent{}
	}
	ev := next()
	if ev.Kind != runtime.ReplicaExited || ev.ExitCode != 3 || ev.Handle.ID != h.ID ||
		ev.Labels[runtime.LabelReplica] != "web-1" || ev.Labels[runtime.LabelInstance] != id.Name() {
		t.Errorf("crash event %+v", ev)
	}
	if ev := next(); ev.Kind != runtime.ReplicaRestarted {
		t.Errorf("after the crash: %+v, want restarted", ev)
	}
	f.waitHealthy(h)
	if err := r.Stop(ctx, h, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		t.Errorf("a planned stop was reported: %+v", ev)
	case <-time.After(2 * time.Second):
	}
}
