package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
)

// declarativeStrategy deploys on declarative runtimes (runtime.Applier:
// Kubernetes). They converge a whole instance themselves, so the engine
// keeps its own part — the plan, releases, the lock, events — and hands
// each release to Apply instead of starting and stopping replicas one by
// one. The store keeps no replica handles for such instances: the
// runtime's State is the truth, and routing is the cluster's (Ingress),
// not quai's proxy.
type declarativeStrategy struct {
	e  *Engine
	rt runtime.Applier
}

func (d *declarativeStrategy) runtime() runtime.Runtime { return d.rt }

// proxied: the cluster's ingress controller routes, on the schemes' own
// ports.
func (d *declarativeStrategy) proxied() bool { return false }

// recover has nothing to do: the cluster keeps its workloads running and
// replaces lost pods itself; there is nothing to re-attach nor any proxy
// route.
func (d *declarativeStrategy) recover(context.Context, store.Instance) (int, error) { return 0, nil }

// observe records in s what the runtime runs for the instance: every
// replica not being deleted, with its config hash, for planning. For a new
// instance it proves the runtime can be reached (and is configured) before
// a release is recorded.
func (d *declarativeStrategy) observe(ctx context.Context, s *snapshot, id stack.Identity, jobs map[string]bool) error {
	states, err := d.rt.State(ctx, id)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("observe %s on the %s runtime: %w", s.name, s.rtName, err)
	}
	for _, svc := range states {
		for _, r := range svc.Replicas {
			if r.Status.State == runtime.StateStopped {
				continue // terminating: already on its way out
			}
			rs := replicaStatus{status: r.Status, ok: replicaOK(r.Status, jobs[svc.Service])}
			s.status[r.Handle.Replica] = rs
			s.obs.Replicas[svc.Service] = append(s.obs.Replicas[svc.Service],
				observedReplica{Name: r.Handle.Replica, Release: svc.Release, Hash: r.Handle.Hash, OK: rs.ok})
		}
	}
	return nil
}

// replicaOK: the replica runs (healthy or still starting: the runtime
// restarts and checks it), or it is a job that completed successfully.
func replicaOK(st runtime.Status, job bool) bool {
	if job && st.State == runtime.StateExited && st.ExitCode == 0 {
		return true
	}
	return st.State == runtime.StateRunning || st.State == runtime.StateStarting
}

// applySecrets resolves the values of the stack's secrets the engine can
// read (sealed ones from the store, files, the daemon's environment).
// Secrets it cannot read are left to the runtime, which accepts one that
// already exists in the cluster and otherwise says how to create it.
func applySecrets(ctx context.Context, e *Engine, m *stack.Model) (map[string][]byte, error) {
	sealed, err := e.secretValues(ctx, m)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, svc := range m.Services {
		for _, name := range svc.SecretNames() {
			if v, err := secretValue(m, svc, name, sealed); err == nil {
				out[name] = v
			}
		}
	}
	return out, nil
}

// applyOptions builds the runtime's options for one release; progress
// lines become EventProgress of the given step.
func applyOptions(op *operation, m *stack.Model, release int, step string) (runtime.ApplyOptions, error) {
	secrets, err := applySecrets(op.ctx, op.e, m)
	return runtime.ApplyOptions{
		Release: release,
		Secrets: secrets,
		Emit: func(msg string) {
			op.emit.emit(Event{Kind: EventProgress, Step: step, Message: msg})
		},
	}, err
}

// deploy hands release to the runtime and records the outcome. A rollout
// that fails marks the release failed and re-applies the active release,
// so the instance runs what its active release says.
func (d *declarativeStrategy) deploy(op *operation, s *snapshot, m *stack.Model, _ Plan, release int) error {
	e := d.e
	ctx := op.ctx
	op.emit.step("apply", "", "", fmt.Sprintf("applying release %d to %s and waiting for the rollout", release, s.rtName))
	opts, err := applyOptions(op, m, release, "apply")
	if err != nil {
		return err
	}
	err = d.rt.Apply(ctx, m, opts)
	if err != nil {
		if rf := (*runtime.ReplicaFailure)(nil); errors.As(err, &rf) {
			op.emit.emit(Event{Kind: EventStepFailed, Step: "rollout", Service: rf.Service, Replica: rf.Replica,
				Message: rf.Reason, Text: rf.Logs})
		}
		if errors.Is(err, runtime.ErrRolloutFailed) {
			err = fmt.Errorf("%w: %w", ErrUnhealthy, err)
		}
		d.undo(op, s)
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if ferr := e.store.FailRelease(fctx, s.name, release, err.Error()); ferr != nil {
			op.emit.warn("", "", "cannot mark the release failed: "+ferr.Error())
		}
		return err
	}
	op.emit.stepDone("apply", "", "", "")
	// The cluster runs the release now: record it even if the caller left.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	op.emit.step("persist", "", "", "")
	if err := e.store.SwitchRelease(pctx, store.Switch{Instance: s.name, Release: release, At: e.now()}); err != nil {
		return fmt.Errorf("record the new state: %w", err)
	}
	op.emit.stepDone("persist", "", "", "")
	return nil
}

// undo re-applies the active release after a failed one, so what the
// failed release changed (a Deployment's template, a removed Service) goes
// back; an instance that was down is scaled to zero again. The runtime
// kept the previous pods serving during the rollout, so this rolls back to
// them. Failures are warnings: the failed release is reported either way.
func (d *declarativeStrategy) undo(op *operation, s *snapshot) {
	e, ap := d.e, d.rt
	if s.active == nil || s.activeModel == nil {
		// A first install: what failed stays for `quai logs` and
		// `quai status` to explain, until `up` fixes it or `rm` removes it.
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(op.ctx), e.healthTimeout)
	defer cancel()
	if s.inst.Stopped {
		// The instance was down: it goes back to running nothing.
		op.emit.step("undo", "", "", "scaling back to zero: the instance was down")
		if err := ap.Down(ctx, s.inst.Identity); err != nil {
			op.emit.warn("", "", fmt.Sprintf("scaling back to zero failed: %v; `quai down %s` retries", err, s.name))
			return
		}
		op.emit.stepDone("undo", "", "", "")
		return
	}
	op.emit.step("undo", "", "", fmt.Sprintf("re-applying release %d", s.active.Number))
	opts, err := applyOptions(op, s.activeModel, s.active.Number, "undo")
	if err == nil {
		err = ap.Apply(ctx, s.activeModel, opts)
	}
	if err != nil {
		op.emit.warn("", "", fmt.Sprintf("re-applying release %d failed: %v; `quai rollback %s --to %d` retries",
			s.active.Number, err, s.name, s.active.Number))
		return
	}
	op.emit.stepDone("undo", "", "", "")
}

// validate asks the runtime to validate the model without changing
// anything (a server-side dry run on Kubernetes).
func (d *declarativeStrategy) validate(ctx context.Context, m *stack.Model, em *emitter) error {
	em.step("validate", "", "", "validating every object with the cluster (dry run)")
	secrets, err := applySecrets(ctx, d.e, m)
	if err != nil {
		return err
	}
	err = d.rt.Apply(ctx, m, runtime.ApplyOptions{DryRun: true, Secrets: secrets,
		Emit: func(msg string) { em.emit(Event{Kind: EventProgress, Step: "validate", Message: msg}) }})
	if err != nil {
		return fmt.Errorf("the cluster refuses %s: %w", m.Identity.Name(), err)
	}
	em.stepDone("validate", "", "", "")
	return nil
}

// replicas returns the instance's replicas as the runtime reports them, by
// service, with their status.
func (d *declarativeStrategy) replicas(ctx context.Context, in store.Instance, jobs map[string]bool) (map[string][]replicaView, error) {
	states, err := d.rt.State(ctx, in.Identity)
	if errors.Is(err, runtime.ErrNotFound) {
		return map[string][]replicaView{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("status of %s on the %s runtime: %w", in.Name, in.Runtime, err)
	}
	out := map[string][]replicaView{}
	for _, svc := range states {
		out[svc.Service] = []replicaView{}
		for _, r := range svc.Replicas {
			ri := ReplicaInfo{Replica: r.Handle.Replica, Release: svc.Release, Address: r.Handle.Address, Node: r.Node, Status: r.Status}
			out[svc.Service] = append(out[svc.Service], replicaView{ReplicaInfo: ri,
				ready: ri.Status.Healthy() || (jobs[svc.Service] && replicaOK(ri.Status, true))})
		}
	}
	return out, nil
}

// handles: the cluster's pods are the replicas; no store records them.
func (d *declarativeStrategy) handles(ctx context.Context, in store.Instance) ([]runtime.Handle, error) {
	return d.rt.List(ctx, in.Identity)
}

// down scales every service to zero.
func (d *declarativeStrategy) down(op *operation, inst store.Instance) error {
	op.emit.step("stop", "", "", "scaling every service to zero")
	if err := d.rt.Down(op.ctx, inst.Identity); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return fmt.Errorf("stop %s: %w", inst.Name, err)
	}
	op.emit.stepDone("stop", "", "", "")
	return nil
}

// start applies the active release again and waits for the rollout; a
// failure scales the instance back to zero.
func (d *declarativeStrategy) start(op *operation, s *snapshot, _ Plan) error {
	op.emit.step("apply", "", "", fmt.Sprintf("applying release %d to %s again and waiting for the rollout", s.active.Number, s.rtName))
	opts, err := applyOptions(op, s.activeModel, s.active.Number, "apply")
	if err == nil {
		err = d.rt.Apply(op.ctx, s.activeModel, opts)
	}
	if err != nil {
		if errors.Is(err, runtime.ErrRolloutFailed) {
			err = fmt.Errorf("%w: %w", ErrUnhealthy, err)
		}
		d.undo(op, s)
		return err
	}
	op.emit.stepDone("apply", "", "", "")
	return nil
}

// restart replaces the replicas of one service ("" = every service)
// through the runtime's rolling restart; no release is created.
func (d *declarativeStrategy) restart(op *operation, s *snapshot, m *stack.Model, service string) error {
	rs, ok := d.rt.(runtime.Restarter)
	if !ok {
		return fmt.Errorf("restart %s: the %s runtime cannot restart replicas; `quai up` applies changes: %w",
			op.instance, s.rtName, runtime.ErrUnsupported)
	}
	var services []string
	what := "every service"
	if service != "" {
		services, what = []string{service}, service
	}
	op.emit.step("restart", service, "", "replacing the replicas of "+what+", rolling")
	err := rs.Restart(op.ctx, m, services, func(msg string) {
		op.emit.emit(Event{Kind: EventProgress, Step: "restart", Service: service, Message: msg})
	})
	if err != nil {
		if errors.Is(err, runtime.ErrRolloutFailed) {
			err = fmt.Errorf("%w: %w", ErrUnhealthy, err)
		}
		return fmt.Errorf("restart %s: %w", op.instance, err)
	}
	op.emit.stepDone("restart", service, "", "")
	return nil
}

// remove deletes everything the runtime created for the instance, its
// volumes only with purge.
func (d *declarativeStrategy) remove(op *operation, inst store.Instance, purge bool) (string, error) {
	ctx := op.ctx
	msg := "removed " + op.instance
	var kept []string
	if vm, ok := d.rt.(runtime.VolumeManager); ok && !purge {
		if vols, err := vm.Volumes(ctx, inst.Identity); err == nil {
			kept = vols
		}
	}
	step := "deleting everything but the volumes"
	if purge {
		step, msg = "deleting everything, volumes and data included", msg+" with its volumes and data"
	}
	op.emit.step("remove", "", "", step)
	if err := d.rt.Delete(ctx, inst.Identity, purge); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return "", fmt.Errorf("remove %s: %w", op.instance, err)
	}
	op.emit.stepDone("remove", "", "", "")
	if len(kept) > 0 {
		msg += "; volumes kept: " + strings.Join(kept, ", ") + " (remove with --purge)"
	}
	return msg, nil
}

var _ strategy = (*declarativeStrategy)(nil)
