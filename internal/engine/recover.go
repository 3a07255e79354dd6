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
//
// Replicas that are gone (the host rebooted, someone killed their
// supervisor) are started again in the background, as a restart of the
// instance's active release, unless the instance was taken down on purpose:
// an instance that was running before the daemon stopped runs after it.
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
		gone, err := e.recoverInstance(ctx, inst)
		if err != nil {
			e.log.Error("cannot recover instance", "instance", inst.Name, "err", err)
		}
		if gone > 0 && !inst.Stopped {
			e.restartGone(inst.Name, gone)
		}
	}
	return nil
}

// restartGone restarts an instance whose replicas vanished while no daemon
// watched them. It runs in the background so the daemon serves at once; its
// events go to the daemon log and the operation shows in `quai status`.
func (e *Engine) restartGone(instance string, gone int) {
	e.log.Warn("replicas are gone; starting them again", "instance", instance, "gone", gone)
	go func() {
		if err := e.Restart(e.base, instance, "", nil); err != nil && !errors.Is(err, context.Canceled) {
			e.log.Error("cannot start the gone replicas again; run `quai restart` or `quai up`", "instance", instance, "err", err)
		}
	}()
}

// recoverInstance re-attaches one instance and returns how many of its
// persisted replicas are gone.
func (e *Engine) recoverInstance(ctx context.Context, inst store.Instance) (gone int, err error) {
	st, err := e.strategyFor(inst.Runtime)
	if err != nil {
		return 0, err
	}
	return st.recover(ctx, inst)
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
