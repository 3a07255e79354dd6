package process_test

import (
	"context"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/process"
)

// killSupervisor SIGKILLs the supervisor a handle names and waits until it
// is gone.
func killSupervisor(t *testing.T, h runtime.Handle) int {
	t.Helper()
	pid := atoi(strings.Split(h.ID, "-")[0])
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill supervisor %d: %v", pid, err)
	}
	for deadline := time.Now().Add(10 * time.Second); processExists(pid); {
		if time.Now().After(deadline) {
			t.Fatalf("supervisor %d survived SIGKILL", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return pid
}

// assertSupervisedAgain waits until the replica has a new live supervisor
// and a new app answering on the same address, then crashes the app and
// waits until the new supervisor has restarted it.
func assertSupervisedAgain(t *testing.T, rt *process.Runtime, h runtime.Handle, oldPid string) {
	t.Helper()
	ctx := context.Background()
	var now runtime.Handle
	deadline := time.Now().Add(time.Minute)
	for {
		hs, err := rt.List(ctx, h.Instance)
		if err == nil && len(hs) == 1 && hs[0].ID != h.ID && processExists(atoi(strings.Split(hs[0].ID, "-")[0])) {
			if st, err := rt.Inspect(ctx, hs[0]); err == nil && st.Healthy() {
				now = hs[0]
				break
			}
		}
		if time.Now().After(deadline) {
			hs, err := rt.List(ctx, h.Instance)
			st, serr := rt.Inspect(ctx, h)
			t.Fatalf("the replica was not supervised again: list %+v %v; status %+v %v", hs, err, st, serr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if now.Address != h.Address {
		t.Errorf("the replica moved from %s to %s", h.Address, now.Address)
	}
	newPid := httpGet(t, now, "/pid")
	if newPid == oldPid {
		t.Errorf("app %s still runs unsupervised; it should have been stopped and started again", oldPid)
	}
	// The handle the engine holds still names the replica.
	st, err := rt.Inspect(ctx, h)
	if err != nil || st.Restarts < 1 {
		t.Errorf("inspect with the original handle: %+v, %v; want the replica with a restart counted", st, err)
	}
	before := st.Restarts
	if resp, err := http.Get("http://" + now.Address + "/crash"); err == nil {
		_ = resp.Body.Close()
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		st, err := rt.Inspect(ctx, now)
		if err == nil && st.Restarts > before && st.Healthy() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a crash after re-supervision was not restarted: %+v %v", st, err)
		}
	}
	if got := httpGet(t, now, "/pid"); got == newPid {
		t.Errorf("after the crash the app is still %s", got)
	}
}

func TestKilledSupervisorIsReplacedByTheWatcher(t *testing.T) {
	dataDir := t.TempDir()
	killLeftovers(t, dataDir)
	rt := newRuntime(t, dataDir, func(o *process.Options) { o.StopGrace = time.Second })
	h, err := rt.Start(context.Background(), appSpec(testExecutable(t), "web-1", nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Remove(context.Background(), h) })
	waitHealthy(t, rt, h)
	oldPid := httpGet(t, h, "/pid")
	killSupervisor(t, h)
	assertSupervisedAgain(t, rt, h, oldPid)
}

func TestReattachReplacesASupervisorThatDiedWithoutADaemon(t *testing.T) {
	dataDir := t.TempDir()
	killLeftovers(t, dataDir)
	h := startInShortLivedDaemon(t, dataDir)
	oldPid := ""
	for deadline := time.Now().Add(time.Minute); oldPid == ""; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + h.Address + "/pid"); err == nil {
			_ = resp.Body.Close()
			oldPid = httpGet(t, h, "/pid")
		} else if time.Now().After(deadline) {
			t.Fatalf("the app never answered: %v", err)
		}
	}
	killSupervisor(t, h)

	rt := newRuntime(t, dataDir, func(o *process.Options) { o.StopGrace = time.Second })
	t.Cleanup(func() { _ = rt.Remove(context.Background(), h) })
	if err := rt.Reattach(context.Background(), h); err != nil {
		t.Fatalf("reattach a replica whose supervisor died: %v", err)
	}
	assertSupervisedAgain(t, rt, h, oldPid)
}
