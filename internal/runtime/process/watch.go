package process

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"

	"github.com/quai-dev/quai/internal/runtime"
)

// replicaEvents turns the supervisors' state files into replica events.
// It exists once WatchReplicas was called: it watches (inotify) the
// directory of every replica the runtime watches, so an app's exit, which
// its supervisor records at once, is known within milliseconds, and reads
// the state file only when it changed.
type replicaEvents struct {
	fsw *fsnotify.Watcher
	log func(msg string, args ...any)

	mu   sync.Mutex
	dirs map[string]*eventReplica // by replica directory
	subs map[chan runtime.ReplicaEvent]struct{}
	done chan struct{}
}

// eventReplica is what the notifier last saw of a replica.
type eventReplica struct {
	spec     *shimSpec
	phase    string
	restarts int
	appPid   int
}

// subscriberBuffer is how many events a slow reader may fall behind
// before events are dropped.
const subscriberBuffer = 256

// WatchReplicas implements runtime.ReplicaWatcher: it reports an app that
// exits (a crash, a kill -9) as soon as its supervisor records it, and its
// restart. Planned stops are not reported: Stop stops watching a replica
// before it signals its supervisor.
func (r *Runtime) WatchReplicas(ctx context.Context) (<-chan runtime.ReplicaEvent, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, fmt.Errorf("process runtime: watch replicas: %w", runtime.ErrUnavailable)
	}
	if r.events == nil {
		fsw, err := fsnotify.NewWatcher()
		if err != nil {
			r.mu.Unlock()
			return nil, fmt.Errorf("process runtime: watch replicas (inotify): %w", err)
		}
		r.events = &replicaEvents{fsw: fsw, log: r.log.Warn, dirs: map[string]*eventReplica{},
			subs: map[chan runtime.ReplicaEvent]struct{}{}, done: make(chan struct{})}
		go r.events.run()
		for dir, w := range r.watchers {
			r.events.add(dir, w.spec)
		}
	}
	ev := r.events
	r.mu.Unlock()

	ch := make(chan runtime.ReplicaEvent, subscriberBuffer)
	ev.mu.Lock()
	ev.subs[ch] = struct{}{}
	ev.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-ev.done:
		}
		ev.mu.Lock()
		if _, ok := ev.subs[ch]; ok {
			delete(ev.subs, ch)
			close(ch)
		}
		ev.mu.Unlock()
	}()
	return ch, nil
}

// add starts watching the replica in dir; the runtime's mu is held.
func (e *replicaEvents) add(dir string, spec *shimSpec) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.dirs[dir]; ok {
		return
	}
	er := &eventReplica{spec: spec}
	if st, err := readState(dir); err == nil {
		er.phase, er.restarts, er.appPid = st.Phase, st.Restarts, st.AppPid
	}
	if err := e.fsw.Add(dir); err != nil {
		e.log("cannot watch a replica's state; its crashes are seen at the next poll only", "dir", dir, "err", err)
		return
	}
	e.dirs[dir] = er
}

// remove stops watching the replica in dir.
func (e *replicaEvents) remove(dir string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.dirs[dir]; !ok {
		return
	}
	delete(e.dirs, dir)
	_ = e.fsw.Remove(dir) // the directory may be gone already
}

// close ends every subscription.
func (e *replicaEvents) close() {
	_ = e.fsw.Close()
	<-e.done
}

func (e *replicaEvents) run() {
	defer func() {
		e.mu.Lock()
		for ch := range e.subs {
			delete(e.subs, ch)
			close(ch)
		}
		e.mu.Unlock()
		close(e.done)
	}()
	for {
		select {
		case fe, ok := <-e.fsw.Events:
			if !ok {
				return
			}
			if filepath.Base(fe.Name) != stateFile || !fe.Has(fsnotify.Create) && !fe.Has(fsnotify.Write) {
				continue
			}
			e.changed(filepath.Dir(fe.Name))
		case err, ok := <-e.fsw.Errors:
			if !ok {
				return
			}
			e.log("watching replicas' state", "err", err)
		}
	}
}

// changed reads the state of the replica in dir and reports what happened
// since it was last read.
func (e *replicaEvents) changed(dir string) {
	st, err := readState(dir)
	if err != nil {
		return // half-removed, or not written yet
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	er, ok := e.dirs[dir]
	if !ok {
		return
	}
	prev := *er
	er.phase, er.restarts, er.appPid = st.Phase, st.Restarts, st.AppPid
	var kind runtime.ReplicaEventKind
	switch st.Phase {
	case phaseRestarting:
		if prev.phase != phaseRestarting || prev.restarts != st.Restarts {
			kind = runtime.ReplicaExited
		}
	case phaseExited, phaseFailed:
		if prev.phase != st.Phase {
			kind = runtime.ReplicaExited
		}
	case phaseRunning:
		// Restarts counts a restart from when it is decided (phase
		// restarting); a replaced supervisor counts one as it starts.
		if prev.phase == phaseRestarting || st.Restarts > prev.restarts {
			kind = runtime.ReplicaRestarted
		}
	}
	if kind == "" {
		return
	}
	spec := er.spec
	h := handleFor(spec, st.ShimPid, st.ShimStart)
	labels := maps.Clone(spec.Meta.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, runtime.InstanceLabels(spec.Meta.Instance))
	labels[runtime.LabelService] = spec.Meta.Service
	labels[runtime.LabelReplica] = spec.Meta.Replica
	ev := runtime.ReplicaEvent{Time: time.Now(), Handle: h, Labels: labels, Kind: kind, ExitCode: st.ExitCode, Reason: exitReason(st)}
	if kind == runtime.ReplicaRestarted {
		ev.ExitCode, ev.Reason = 0, fmt.Sprintf("restarted (restart %d)", st.Restarts)
	}
	for ch := range e.subs {
		select {
		case ch <- ev:
		default: // a reader that fell behind loses events, the runtime never waits
		}
	}
}

// exitReason says why the app a state describes ended.
func exitReason(st *shimState) string {
	if st.Phase == phaseFailed {
		return st.Message
	}
	if st.ExitCode > 128 && st.ExitCode < 128+65 {
		sig := syscall.Signal(st.ExitCode - 128)
		return fmt.Sprintf("killed by signal %d (%s)", int(sig), unix.SignalName(sig))
	}
	return fmt.Sprintf("exit status %d", st.ExitCode)
}

var _ runtime.ReplicaWatcher = (*Runtime)(nil)
