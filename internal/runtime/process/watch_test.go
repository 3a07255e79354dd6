package process_test

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
)

// TestWatchReplicasReportsCrashNotStop: an app killed with SIGKILL is
// reported as exited (with the signal) and then restarted; a replica the
// runtime stops is not reported.
func TestWatchReplicasReportsCrashNotStop(t *testing.T) {
	dir := t.TempDir()
	killLeftovers(t, dir)
	rt := newRuntime(t, dir, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := rt.WatchReplicas(ctx)
	if err != nil {
		t.Fatal(err)
	}
	exe := testExecutable(t)
	h, err := rt.Start(ctx, appSpec(exe, "web-1", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rt.Remove(context.Background(), h) }()
	waitHealthy(t, rt, h)
	pid := atoi(strings.SplitN(httpGet(t, h, "/pid"), "-", 2)[0])
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
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
	if ev.Kind != runtime.ReplicaExited || ev.ExitCode != 137 || !strings.Contains(ev.Reason, "SIGKILL") ||
		ev.Labels[runtime.LabelReplica] != "web-1" || ev.Labels[runtime.LabelService] != "web" || ev.Labels[runtime.LabelInstance] != testID.Name() {
		t.Errorf("crash event %+v", ev)
	}
	if ev := next(); ev.Kind != runtime.ReplicaRestarted {
		t.Errorf("after the crash: %+v, want restarted", ev)
	}
	waitHealthy(t, rt, h)
	if err := rt.Stop(ctx, h, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		t.Errorf("a planned stop was reported: %+v", ev)
	case <-time.After(time.Second):
	}
}
