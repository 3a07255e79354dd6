package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/store"
)

// A failed deploy explains itself: the replica that failed is named with
// the reason (exit code, signal, out of memory, health check), its last log
// lines are shown, and the replicas of the failed release are kept stopped,
// with their logs and exit state, until the next successful release or a
// prune, so that `quai logs INSTANCE --release N` can read them.

// defaultCrashLimit is how many times a new replica may crash before the
// deploy fails without waiting for the health timeout.
const defaultCrashLimit = 3

// failureLogLines is how many of the failing replica's last log lines the
// failure report shows.
const failureLogLines = 20

// failureLogBytes bounds what the report reads of those lines.
const failureLogBytes = 16 << 10

// replicaFailure is a new replica that made a deploy fail: the error names
// it, and the execution reports its reason and last log lines.
type replicaFailure struct {
	handle runtime.Handle
	// reason is one line: "crashed 3 times, last with exit code 1".
	reason string
	err    error
}

func (f *replicaFailure) Error() string { return f.err.Error() }
func (f *replicaFailure) Unwrap() error { return f.err }

// crashes is how many times the replica's app has exited and been (or is
// about to be) restarted, plus the exit it stays in.
func crashes(st runtime.Status) int {
	n := st.Restarts
	if st.State == runtime.StateExited {
		n++
	}
	return n
}

// signalNames are the signals apps usually die of, by number.
var signalNames = map[int]string{
	1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE",
	9: "SIGKILL", 11: "SIGSEGV", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM",
}

// exitReason says how an app ended from its exit code (128+n: signal n).
func exitReason(code int, message string) string {
	oom := strings.Contains(strings.ToLower(message), "out of memory") || strings.Contains(message, "OOM")
	switch {
	case oom:
		return fmt.Sprintf("killed: out of memory (exit code %d; raise the service's memory limit)", code)
	case code > 128 && code < 160:
		name := signalNames[code-128]
		if name == "" {
			name = "signal " + strconv.Itoa(code-128)
		}
		return fmt.Sprintf("killed by %s (exit code %d)", name, code)
	default:
		return fmt.Sprintf("exit code %d", code)
	}
}

// failureReason is why a replica is not ready, in one line.
func failureReason(st runtime.Status, err error) string {
	if err != nil {
		return err.Error()
	}
	var s string
	n := crashes(st)
	switch {
	case n > 1 && st.State == runtime.StateRunning && st.ExitCode == 0:
		// Started again; the runtime no longer tells how it ended.
		s = fmt.Sprintf("crashed %d times", n)
	case n > 1:
		s = fmt.Sprintf("crashed %d times, last with %s", n, exitReason(st.ExitCode, st.Message))
	case n == 1:
		s = "crashed with " + exitReason(st.ExitCode, st.Message)
	case st.State == runtime.StateRunning && st.Health == runtime.HealthUnhealthy:
		s = "health check failing"
	case st.State == runtime.StateRunning:
		s = "health check not passed yet"
	default:
		s = string(st.State)
	}
	// The runtime's own account of an exit ("exited with code 1;
	// restarting in 400ms") says nothing more than the reason.
	if st.Message != "" && !strings.Contains(s, st.Message) && (n == 0 || !strings.Contains(st.Message, "exited with code")) {
		s += ": " + st.Message
	}
	return s
}

// report shows why the failing replica failed: an EventStepFailed for its
// service with the reason and its last log lines, which the CLI prints.
func (x *execution) report(ctx context.Context, f *replicaFailure) {
	tail := logTail(ctx, x.rt, f.handle, failureLogLines)
	x.op.emit.emit(Event{Kind: EventStepFailed, Step: "health", Service: f.handle.Service, Replica: f.handle.Replica,
		Message: f.reason, Text: tail})
}

// logTail returns the replica's last n log lines, or a line saying why
// there are none.
func logTail(ctx context.Context, rt runtime.Runtime, h runtime.Handle, n int) string {
	lg, ok := rt.(runtime.Logger)
	if !ok {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rc, err := lg.Logs(ctx, h, runtime.LogOptions{Tail: n})
	if err != nil {
		return "(its logs cannot be read: " + err.Error() + ")\n"
	}
	defer func() { _ = rc.Close() }()
	b, err := io.ReadAll(io.LimitReader(rc, failureLogBytes))
	if err != nil && len(b) == 0 {
		return "(its logs cannot be read: " + err.Error() + ")\n"
	}
	if len(b) == 0 {
		return "(it printed nothing)\n"
	}
	s := string(b)
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}

// keepFailed stops the replicas the failed release started and records
// them as kept, with their logs and exit state, instead of removing them.
func (x *execution) keepFailed(ctx context.Context) {
	em := x.op.emit
	em.step("undo", "", "", fmt.Sprintf("stopping %d new replica(s); their logs are kept until the next successful release or prune", len(x.started)))
	_ = x.e.stopAll(ctx, x.rt, x.started, x.model, em, true)
	if err := x.e.store.KeepHandles(ctx, x.snap.name, x.started); err != nil {
		em.warn("", "", "cannot keep the failed replicas, removing them: "+err.Error())
		x.e.removeAll(ctx, x.rt, x.started, em)
		return
	}
	em.stepDone("undo", "", "", "")
}

// discardKept removes the replicas that failed releases of the instance
// left, on rt, and forgets them; it returns their names. Failures are
// warnings: what stays is tried again next time.
func (e *Engine) discardKept(ctx context.Context, instance string, rt runtime.ReplicaRunner, em *emitter) []string {
	kept, err := e.store.KeptHandles(ctx, instance)
	if err != nil {
		em.warn("", "", "cannot list the replicas of failed releases: "+err.Error())
		return nil
	}
	if len(kept) == 0 {
		return nil
	}
	var gone []string
	for _, h := range kept {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := rt.Remove(rctx, h)
		cancel()
		if err != nil && !errors.Is(err, runtime.ErrNotFound) {
			em.warn(h.Service, h.Replica, fmt.Sprintf("remove the failed replica %s: %v", h.Replica, err))
			continue
		}
		gone = append(gone, h.Replica)
	}
	if err := e.store.ForgetKeptHandles(ctx, instance, gone); err != nil {
		em.warn("", "", err.Error())
	}
	return gone
}

// pruneKept removes the kept replicas of failed releases of every
// instance on a replica runtime and returns their names (instance/replica);
// with dryRun it only lists them.
func (e *Engine) pruneKept(ctx context.Context, dryRun bool) ([]string, error) {
	instances, err := e.store.Instances(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, in := range instances {
		st, err := e.strategyFor(in.Runtime)
		if err != nil {
			continue
		}
		rs, ok := st.(*replicaStrategy)
		if !ok {
			continue
		}
		var names []string
		if dryRun {
			kept, err := e.store.KeptHandles(ctx, in.Name)
			if err != nil {
				return out, err
			}
			for _, h := range kept {
				names = append(names, h.Replica)
			}
		} else {
			names = e.discardKept(ctx, in.Name, rs.rt, e.emitter(nil, in.Name))
		}
		for _, n := range names {
			out = append(out, in.Name+"/"+n)
		}
	}
	return out, nil
}

// failedLogSources are the replicas failed releases of the instance kept
// (stopped, with their logs), for Logs: on replica runtimes only.
func (e *Engine) failedLogSources(ctx context.Context, in store.Instance, st strategy) ([]runtime.Handle, error) {
	if _, ok := st.(*replicaStrategy); !ok {
		return nil, nil
	}
	return e.store.KeptHandles(ctx, in.Name)
}

// ofRelease keeps, of the replicas that run and those whose logs are kept,
// the ones of release; an error says when it has none (or does not exist).
func (e *Engine) ofRelease(ctx context.Context, instance string, release int, live, kept []runtime.Handle) ([]runtime.Handle, []runtime.Handle, error) {
	if _, err := e.store.Release(ctx, instance, release); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, fmt.Errorf("%s has no release %d (quai releases %s lists them): %w", instance, release, instance, ErrNotFound)
		}
		return nil, nil, err
	}
	only := func(hs []runtime.Handle) []runtime.Handle {
		var out []runtime.Handle
		for _, h := range hs {
			if h.Release == release {
				out = append(out, h)
			}
		}
		return out
	}
	live, kept = only(live), only(kept)
	if len(live)+len(kept) == 0 {
		return nil, nil, fmt.Errorf("%s: release %d has no replicas whose logs are kept (those of a failed release stay until the next successful release or prune, then within the log retention): %w",
			instance, release, ErrNotFound)
	}
	return live, kept, nil
}
