package engine

import (
	"context"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/process"
)

// countingRuntime is the process runtime counting the replicas it is asked
// about.
type countingRuntime struct {
	*process.Runtime
	inspects atomic.Int64
}

func (c *countingRuntime) Inspect(ctx context.Context, h runtime.Handle) (runtime.Status, error) {
	c.inspects.Add(1)
	return c.Runtime.Inspect(ctx, h)
}

// TestListServedFromMemory: List answers from the line the last status
// computed, without asking the runtime, and computes it again when the
// engine learns that it changed: an operation on the instance, a replica
// exit the runtime reports.
func TestListServedFromMemory(t *testing.T) {
	counting := &countingRuntime{}
	h := newHarnessWith(t, func(h *harness) {
		h.wrap = func(rt *process.Runtime) runtime.Runtime { counting.Runtime = rt; return counting }
	})
	// The clock stands still: no line gets old enough for the background
	// refresh, so whatever List computes again, an event made it.
	now := time.Now()
	h.eng.now = func() time.Time { return now }
	ctx := context.Background()
	name := appID.Name()
	h.up(t, "v1", nil)

	state := func() (InstanceState, int64) {
		t.Helper()
		before := counting.inspects.Load()
		list, err := h.eng.List(ctx)
		if err != nil || len(list) != 1 || list[0].Name != name {
			t.Fatalf("List = %+v, %v; want %s", list, err, name)
		}
		return list[0].State, counting.inspects.Load() - before
	}
	if st, n := state(); st != InstanceRunning || n == 0 {
		t.Fatalf("after up: state %s after %d inspections; want running, computed (the operation dropped the line)", st, n)
	}
	if st, n := state(); st != InstanceRunning || n != 0 {
		t.Fatalf("second List: state %s after %d inspections; want running from memory", st, n)
	}

	// A replica killed: the runtime reports the exit and the next List
	// asks the runtime again.
	pid, err := strconv.Atoi(h.mustGet(t, "/pid"))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, n := state(); n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("List never asked the runtime again after a replica was killed")
		}
	}

	// An operation: down shows at once.
	var ev events
	if err := h.eng.Down(ctx, name, ev.emit); err != nil {
		t.Fatal(err)
	}
	if st, _ := state(); st != InstanceStopped {
		t.Fatalf("after down: state %s; want stopped", st)
	}
}
