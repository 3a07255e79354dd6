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
// Only closing the interrupted operations happens before Recover returns.
// It then locks every instance, as a running operation would, and
// re-attaches them in the background, a few at a time, each unlocked as
// soon as it is done: the daemon serves at once however large one instance
// is, a verb on an instance still recovering waits for it as for any
// running operation, and a verb on another one does not wait at all.
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
	unlocks := make([]func(), 0, len(instances))
	for _, inst := range instances {
		unlock, err := e.lockForRecovery(inst.Name)
		if err != nil {
			for _, u := range unlocks {
				u()
			}
			return fmt.Errorf("recover: %w", err)
		}
		unlocks = append(unlocks, unlock)
	}
	workers := make(chan struct{}, recoverWorkers)
	for i, inst := range instances {
		go func() {
			workers <- struct{}{}
			gone, err := e.recoverInstance(e.base, inst)
			<-workers
			unlocks[i]()
			if err != nil {
				e.log.Error("cannot recover instance", "instance", inst.Name, "err", err)
			}
			if gone > 0 && !inst.Stopped {
				e.restartGone(inst.Name, gone)
			}
		}()
	}
	return nil
}

// WaitRecovered waits until Recover has re-attached every instance (or
// ctx ends): until then routes may be missing and verbs on the instances
// still recovering wait.
func (e *Engine) WaitRecovered(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		e.recovering.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the recovery of the instances: %w", ctx.Err())
	}
}

// recoverWorkers bounds how many instances Recover re-attaches at once, so
// that a daemon with many instances does not flood its runtimes.
const recoverWorkers = 4

// lockForRecovery takes the instance's lock for Recover and returns what
// releases it. Until then the engine counts the instance as recovering
// (not busy in Status) and Close waits for it.
func (e *Engine) lockForRecovery(instance string) (func(), error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, ErrClosed
	}
	e.ops.Add(1)
	e.recovering.Add(1)
	sem, ok := e.locks[instance]
	if !ok {
		sem = make(chan struct{}, 1)
		e.locks[instance] = sem
	}
	e.recoveringNow[instance] = true
	e.mu.Unlock()
	// Nothing else holds the lock while the daemon starts; an operation
	// of this engine that does is waited for.
	sem <- struct{}{}
	return func() {
		e.mu.Lock()
		delete(e.recoveringNow, instance)
		e.mu.Unlock()
		<-sem
		e.forget(instance)
		e.recovering.Done()
		e.ops.Done()
	}, nil
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
	if routes, err = e.withRouteSecrets(ctx, m, routes); err != nil {
		return err
	}
	return e.router.SetRoutes(instance, routes)
}
