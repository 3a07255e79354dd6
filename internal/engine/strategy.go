package engine

import (
	"context"
	"fmt"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
)

// strategy is how the engine deploys on one runtime; the verbs call it
// wherever the two ways differ, and keep what they share (the plan,
// releases, the lock, events). New chooses one per runtime, from the
// deployment capability the runtime implements:
//
//   - replicaStrategy (runtime.ReplicaRunner: process, docker) starts new
//     replicas, waits until they are healthy, switches quai's proxy,
//     drains and stops the old ones, and undoes everything on failure; the
//     store records every replica's handle.
//   - declarativeStrategy (runtime.Applier: kubernetes) applies each
//     release and waits for the rollout; the runtime's State is the truth
//     about replicas and routing is the cluster's.
type strategy interface {
	// runtime is the runtime the strategy deploys on.
	runtime() runtime.Runtime
	// observe records in s what runs for the instance id, for planning:
	// s.obs.Replicas and s.status (and s.handles). s.exists is false for a
	// new instance, whose runtime must still be reachable.
	observe(ctx context.Context, s *snapshot, id stack.Identity, jobs map[string]bool) error
	// validate checks m with the runtime without changing anything, for a
	// dry run.
	validate(ctx context.Context, m *stack.Model, em *emitter) error
	// deploy runs release (whose plan is p) and records the switch to it;
	// on failure the instance runs what it ran before and the release is
	// marked failed.
	deploy(op *operation, s *snapshot, m *stack.Model, p Plan, release int) error
	// restart replaces the replicas of one service ("" = every service)
	// of the active release m, without a new release.
	restart(op *operation, s *snapshot, m *stack.Model, service string) error
	// start starts the active release of a downed instance again (s is its
	// snapshot, p the plan that starts its services), as it ran: no new
	// release, no build, no pull. On failure the instance stays down.
	start(op *operation, s *snapshot, p Plan) error
	// down stops every replica of the instance, keeping its records.
	down(op *operation, inst store.Instance) error
	// remove deletes everything the runtime holds of the instance (volumes
	// only with purge) and returns the final message; the caller deletes
	// the records.
	remove(op *operation, inst store.Instance, purge bool) (string, error)
	// replicas reports the instance's replicas by service with their
	// status, for Status.
	replicas(ctx context.Context, in store.Instance, jobs map[string]bool) (map[string][]replicaView, error)
	// handles returns the handles of every replica of the instance, for
	// logs and exec.
	handles(ctx context.Context, in store.Instance) ([]runtime.Handle, error)
	// proxied reports whether quai's proxy routes the instance (and so
	// whether its URLs carry the proxy's ports).
	proxied() bool
	// recover re-attaches a starting daemon to what runs for the instance
	// and returns how many of its replicas are gone.
	recover(ctx context.Context, inst store.Instance) (gone int, err error)
}

// newStrategy chooses how the engine deploys on rt, from the one
// deployment capability it implements.
func newStrategy(e *Engine, rt runtime.Runtime) (strategy, error) {
	runner, runs := rt.(runtime.ReplicaRunner)
	applier, applies := rt.(runtime.Applier)
	switch {
	case runs && applies:
		return nil, fmt.Errorf("engine: the %s runtime (%T) implements both runtime.ReplicaRunner and runtime.Applier; a runtime deploys one way, so implement one of them (see \"Adding a runtime\" in internal/runtime)", rt.Name(), rt)
	case runs:
		return &replicaStrategy{e: e, rt: runner}, nil
	case applies:
		return &declarativeStrategy{e: e, rt: applier}, nil
	default:
		return nil, fmt.Errorf("engine: the %s runtime (%T) implements neither runtime.ReplicaRunner nor runtime.Applier, so nothing can be deployed on it; implement one of them (see \"Adding a runtime\" in internal/runtime)", rt.Name(), rt)
	}
}
