package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/store"
)

// Recover brings a starting daemon back in charge without touching what
// runs: operations a crash interrupted are closed and their pending
// releases marked failed (so no instance stays locked), persisted replica
// handles are re-attached, the proxy gets each running instance's routes
// back, and replicas no store remembers (started by an interrupted deploy,
// or old ones a crash left undrained) are stopped and removed. Problems with
// one instance are logged and do not stop the others; only an unreadable
// store is an error.
func (e *Engine) Recover(ctx context.Context) error {
	ops, err := e.store.RunningOperations(ctx)
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	for _, op := range ops {
		if op.Owner == e.owner {
			continue
		}
		e.log.Warn("closing an operation interrupted by a daemon stop", "instance", op.Instance, "operation", op.Kind,
			"id", op.ID, "started", op.Started)
		if err := e.store.FinishOperation(ctx, op.ID, store.OpInterrupted, "interrupted: the daemon stopped during the operation", e.now()); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("recover: %w", err)
		}
		if op.Release > 0 {
			err := e.store.FailRelease(ctx, op.Instance, op.Release, fmt.Sprintf("interrupted: the daemon stopped during %s", op.Kind))
			if err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("recover: %w", err)
			}
		}
	}
	instances, err := e.store.Instances(ctx)
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	for _, inst := range instances {
		if err := e.recoverInstance(ctx, inst); err != nil {
			e.log.Error("cannot recover instance", "instance", inst.Name, "err", err)
		}
	}
	return nil
}

func (e *Engine) recoverInstance(ctx context.Context, inst store.Instance) error {
	rt, err := e.runtimeFor(inst.Runtime)
	if err != nil {
		return err
	}
	handles, err := e.store.Handles(ctx, inst.Name)
	if err != nil {
		return err
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
			e.log.Warn("replica is gone; `quai up` starts it again", "instance", inst.Name, "replica", h.Replica)
		default:
			e.log.Error("cannot re-attach replica", "instance", inst.Name, "replica", h.Replica, "err", err)
		}
	}
	if !inst.Stopped {
		if err := e.restoreRoutes(ctx, inst.Name, live); err != nil {
			e.log.Error("cannot restore routes", "instance", inst.Name, "err", err)
		}
	}
	listed, err := rt.List(ctx, inst.Identity)
	if err != nil {
		return fmt.Errorf("list replicas: %w", err)
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
		if err := e.stopAll(ctx, rt, orphans, em, false); err != nil {
			return err
		}
		e.removeAll(ctx, rt, orphans, em)
	}
	return nil
}

func (e *Engine) restoreRoutes(ctx context.Context, instance string, live map[string][]runtime.Handle) error {
	if e.router == nil {
		return nil
	}
	active, err := e.store.ActiveRelease(ctx, instance)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	m, err := decodeModel(active)
	if err != nil {
		return err
	}
	for _, hs := range live {
		sortHandles(hs)
	}
	routes := buildRoutes(m, live, e.defaultHost)
	if len(routes) == 0 {
		return nil
	}
	return e.router.SetRoutes(instance, routes)
}
