package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
)

// replicaStrategy deploys on runtimes that start and stop replicas one by
// one (runtime.ReplicaRunner: process, Docker): an execution starts the new
// replicas in dependency order, waits until they are healthy, switches
// quai's proxy to them, records the switch with every replica's handle,
// then drains and stops the old ones; before the switch a failure undoes
// everything. A restarted daemon re-attaches the recorded handles.
type replicaStrategy struct {
	e  *Engine
	rt runtime.ReplicaRunner
}

func (r *replicaStrategy) runtime() runtime.Runtime { return r.rt }

// proxied: quai's proxy routes the instance.
func (r *replicaStrategy) proxied() bool { return true }

// validate has nothing to check beyond the plan: replicas start only when
// the plan runs.
func (r *replicaStrategy) validate(context.Context, *stack.Model, *emitter) error { return nil }

// observe asks the runtime how each recorded replica is.
func (r *replicaStrategy) observe(ctx context.Context, s *snapshot, _ stack.Identity, jobs map[string]bool) error {
	if !s.exists {
		return nil
	}
	var err error
	if s.handles, err = r.e.store.Handles(ctx, s.name); err != nil {
		return err
	}
	for svc, hs := range byService(s.handles) {
		for _, h := range hs {
			rs := r.e.inspect(ctx, r.rt, h, jobs[svc])
			s.status[h.Replica] = rs
			s.obs.Replicas[svc] = append(s.obs.Replicas[svc], observedReplica{Name: h.Replica, Release: h.Release, Hash: h.Hash, OK: rs.ok})
		}
	}
	return nil
}

// deploy executes the plan as release.
func (r *replicaStrategy) deploy(op *operation, s *snapshot, m *stack.Model, p Plan, release int) error {
	return r.e.newExecution(op, s, r.rt, m, p, release, true).run()
}

// restart executes a plan that replaces the service's replicas (every
// service's with "") and keeps the rest, within the active release.
func (r *replicaStrategy) restart(op *operation, s *snapshot, m *stack.Model, service string) error {
	e := r.e
	if service != "" && m.Service(service) == nil {
		var names []string
		for _, svc := range m.Services {
			names = append(names, svc.Name)
		}
		return &NotFoundError{Kind: "service", Name: service, Suggestions: suggest(service, names)}
	}
	order, err := startOrder(m, s.obs.Discovery)
	if err != nil {
		return err
	}
	routed := routedServices(m)
	p := Plan{Instance: op.instance, Release: s.active.Number}
	for _, svc := range order {
		sp := ServicePlan{Service: svc.Name, Action: ActionKeep, FromHash: svc.Hash, ToHash: svc.Hash,
			From: len(s.obs.Replicas[svc.Name]), To: svc.Replicas, Routed: routed[svc.Name], StopFirst: svc.StopFirst}
		if service == "" || svc.Name == service {
			sp.Action, sp.Reason = ActionReplace, "restart"
		}
		p.Services = append(p.Services, sp)
	}
	if s.obs.Discovery {
		cascade(&p, m)
	}
	p.Routes = routeLines(m, e.defaultHost)
	p.Text = planText(s.obs, p)
	op.emit.emit(Event{Kind: EventPlan, Text: p.Text, Release: p.Release})
	return e.newExecution(op, s, r.rt, m, p, s.active.Number, false).run()
}

// start runs the plan that starts every service of the active release
// again, within that release; a failure stops what it started.
func (r *replicaStrategy) start(op *operation, s *snapshot, p Plan) error {
	return r.e.newExecution(op, s, r.rt, s.activeModel, p, s.active.Number, false).run()
}

// down takes the routes away, drains, and stops and removes every replica.
func (r *replicaStrategy) down(op *operation, inst store.Instance) error {
	return r.e.stopInstance(op.ctx, op, inst, r.rt, true)
}

// remove stops the instance's replicas, those no store remembers too, and
// deletes its volumes with purge.
func (r *replicaStrategy) remove(op *operation, inst store.Instance, purge bool) (string, error) {
	e, rt, ctx := r.e, r.rt, op.ctx
	if err := e.stopInstance(ctx, op, inst, rt, false); err != nil {
		return "", err
	}
	// Replicas no store remembers (a deploy interrupted by a crash) go too.
	if listed, err := rt.List(ctx, inst.Identity); err == nil && len(listed) > 0 {
		if err := e.stopAll(ctx, rt, listed, nil, op.emit, false); err != nil {
			return "", fmt.Errorf("remove %s: %w", op.instance, err)
		}
		e.removeAll(ctx, rt, listed, op.emit)
	} else if err != nil {
		op.emit.warn("", "", "cannot list the runtime's replicas to clean leftovers: "+err.Error())
	}
	msg := "removed " + op.instance
	vm, hasVolumes := rt.(runtime.VolumeManager)
	switch {
	case purge && hasVolumes:
		// Listed first: the message names what is gone, not just that
		// something went. A failure names what stayed, and the instance is
		// kept so that rm --purge can be run again.
		vols, _ := vm.Volumes(ctx, inst.Identity)
		op.emit.step("volumes", "", "", "deleting volumes and data")
		if err := vm.RemoveVolumes(ctx, inst.Identity); err != nil {
			return "", fmt.Errorf("remove volumes of %s (the instance is kept; fix what is named and run rm --purge again): %w", op.instance, err)
		}
		op.emit.stepDone("volumes", "", "", "")
		msg += " with its volumes and data"
		if len(vols) > 0 {
			msg += " (volumes " + strings.Join(vols, ", ") + ")"
		}
	case purge:
		op.emit.warn("", "", "the "+inst.Runtime+" runtime keeps no volumes; nothing to purge")
	case hasVolumes:
		if vols, err := vm.Volumes(ctx, inst.Identity); err == nil && len(vols) > 0 {
			msg += "; volumes kept: " + strings.Join(vols, ", ") + " (remove with --purge)"
		}
	}
	return msg, nil
}

// replicas reports the recorded handles as the runtime sees them now.
func (r *replicaStrategy) replicas(ctx context.Context, in store.Instance, jobs map[string]bool) (map[string][]replicaView, error) {
	return r.e.recordedReplicas(ctx, in, func(h runtime.Handle) (runtime.Status, bool) {
		job := jobs[h.Service]
		rs := r.e.inspect(ctx, r.rt, h, job)
		st := rs.status
		if rs.err != nil {
			st = runtime.Status{State: runtime.StateExited, Health: runtime.HealthNone, Message: rs.err.Error()}
		}
		return st, rs.ok && (st.Healthy() || job)
	})
}

// handles are the ones the store recorded.
func (r *replicaStrategy) handles(ctx context.Context, in store.Instance) ([]runtime.Handle, error) {
	return r.e.store.Handles(ctx, in.Name)
}

// recover re-attaches the instance's persisted replicas, gives the proxy
// their routes back and stops the replicas no store remembers.
func (r *replicaStrategy) recover(ctx context.Context, inst store.Instance) (gone int, err error) {
	e, rt := r.e, r.rt
	handles, err := e.store.Handles(ctx, inst.Name)
	if err != nil {
		return 0, err
	}
	known := map[string]bool{}
	live := map[string][]runtime.Handle{}
	for _, h := range handles {
		known[h.Replica] = true
		if h.Version > runtime.HandleVersion {
			e.log.Error("replica handle is newer than this quai; not re-attaching", "instance", inst.Name,
				"replica", h.Replica, "version", h.Version)
			continue
		}
		switch err := rt.Reattach(ctx, h); {
		case err == nil:
			live[h.Service] = append(live[h.Service], h)
		case errors.Is(err, runtime.ErrNotFound):
			gone++
			e.log.Warn("replica is gone", "instance", inst.Name, "replica", h.Replica)
		default:
			e.log.Error("cannot re-attach replica", "instance", inst.Name, "replica", h.Replica, "err", err)
		}
	}
	if !inst.Stopped {
		if err := e.restoreRoutes(ctx, inst.Name, live); err != nil {
			e.log.Error("cannot restore routes", "instance", inst.Name, "err", err)
		}
	}
	// The replicas of failed releases are kept for their logs.
	if kept, err := e.store.KeptHandles(ctx, inst.Name); err == nil {
		for _, h := range kept {
			known[h.Replica] = true
		}
	} else {
		return gone, err
	}
	listed, err := rt.List(ctx, inst.Identity)
	if err != nil {
		return gone, fmt.Errorf("list replicas: %w", err)
	}
	var orphans []runtime.Handle
	for _, h := range listed {
		if !known[h.Replica] {
			orphans = append(orphans, h)
		}
	}
	if len(orphans) > 0 {
		for _, h := range orphans {
			e.log.Info("removing a replica no release uses", "instance", inst.Name, "replica", h.Replica, "release", h.Release)
		}
		em := e.emitter(nil, inst.Name)
		if err := e.stopAll(ctx, rt, orphans, nil, em, false); err != nil {
			return gone, err
		}
		e.removeAll(ctx, rt, orphans, em)
	}
	return gone, nil
}

var _ strategy = (*replicaStrategy)(nil)
