package docker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/runtime"
)

// watchRetry is how long WatchReplicas waits before it subscribes again
// to an engine whose event stream broke (an engine restart).
const watchRetry = time.Second

// WatchReplicas implements runtime.ReplicaWatcher with the Engine's events
// API: a container of this daemon that dies (die, with its exit code),
// is OOM-killed (oom) or is restarted by its restart policy (restart, or
// start after a die) is reported as it happens. A container the runtime
// is stopping or removing is not: Stop and Remove stop watching it first,
// and only watched containers are reported.
func (r *Runtime) WatchReplicas(ctx context.Context) (<-chan runtime.ReplicaEvent, error) {
	select {
	case <-r.closed:
		return nil, fmt.Errorf("docker runtime: watch replicas: %w", runtime.ErrUnavailable)
	default:
	}
	ch := make(chan runtime.ReplicaEvent, 256)
	go func() {
		defer close(ch)
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-r.closed:
				cancel()
			case <-ctx.Done():
			}
		}()
		died := map[string]bool{}
		for ctx.Err() == nil {
			err := r.streamEvents(ctx, ch, died)
			if ctx.Err() != nil {
				return
			}
			r.log.Warn("the engine's event stream ended; subscribing again", "host", r.host, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(watchRetry):
			}
		}
	}()
	return ch, nil
}

// streamEvents reads one subscription to the engine's events until it
// breaks or ctx ends.
func (r *Runtime) streamEvents(ctx context.Context, ch chan<- runtime.ReplicaEvent, died map[string]bool) error {
	f := r.ownFilter().Add("type", string(events.ContainerEventType)).Add("event", "die", "oom", "restart", "start")
	res := r.cli.Events(ctx, client.EventsListOptions{Filters: f})
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err, ok := <-res.Err:
			if !ok {
				return errors.New("event stream closed")
			}
			return err
		case m, ok := <-res.Messages:
			if !ok {
				return errors.New("event stream closed")
			}
			if ev, ok := r.replicaEvent(m, died); ok {
				select {
				case ch <- ev:
				default: // a reader that fell behind loses events
				}
			}
		}
	}
}

// replicaEvent turns an engine event into a replica event, when it is
// one to report. died remembers the containers that died, so that their
// next start counts as a restart.
func (r *Runtime) replicaEvent(m events.Message, died map[string]bool) (runtime.ReplicaEvent, bool) {
	id := m.Actor.ID
	if r.watcherOf(id) == nil && m.Action != events.ActionStart {
		delete(died, id)
		return runtime.ReplicaEvent{}, false // stopped or removed by the runtime, or not re-attached
	}
	a := m.Actor.Attributes
	ev := runtime.ReplicaEvent{Time: time.Unix(0, m.TimeNano), Labels: map[string]string{}}
	if m.TimeNano == 0 {
		ev.Time = time.Unix(m.Time, 0)
	}
	for _, k := range []string{runtime.LabelOrg, runtime.LabelProject, runtime.LabelEnv, runtime.LabelInstance, runtime.LabelService, runtime.LabelReplica, runtime.LabelRelease} {
		if v, ok := a[k]; ok {
			ev.Labels[k] = v
		}
	}
	rel, _ := strconv.Atoi(a[runtime.LabelRelease])
	ev.Handle = runtime.Handle{Version: runtime.HandleVersion, Runtime: Name, Instance: identityOf(a), Service: a[runtime.LabelService],
		Replica: a[runtime.LabelReplica], Release: rel, Hash: a[runtime.LabelHash], ID: id, Address: a[LabelAddress]}
	switch m.Action {
	case events.ActionDie:
		died[id] = true
		ev.Kind = runtime.ReplicaExited
		ev.ExitCode, _ = strconv.Atoi(a["exitCode"])
		ev.Reason = "exit status " + a["exitCode"]
		if ev.ExitCode > 128 {
			ev.Reason = fmt.Sprintf("killed by signal %d", ev.ExitCode-128)
		}
	case events.ActionOOM:
		ev.Kind, ev.Reason = runtime.ReplicaOOM, "OOM killed"
	case events.ActionRestart:
		delete(died, id)
		ev.Kind, ev.Reason = runtime.ReplicaRestarted, "restarted by the engine"
	case events.ActionStart:
		if !died[id] {
			return runtime.ReplicaEvent{}, false
		}
		delete(died, id)
		ev.Kind, ev.Reason = runtime.ReplicaRestarted, "restarted by its restart policy"
	default:
		return runtime.ReplicaEvent{}, false
	}
	return ev, true
}

var _ runtime.ReplicaWatcher = (*Runtime)(nil)
