package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
)

// UpRequest asks to bring an instance to Model.
type UpRequest struct {
	Model *stack.Model
	// Runtime names the runtime of a new instance ("" = the default); an
	// existing instance keeps its own.
	Runtime string
	// DryRun plans and reports without changing anything.
	DryRun bool
	// NoWait fails with ErrBusy instead of waiting for a running operation.
	NoWait bool
	// Cause is recorded on the release ("up" when empty).
	Cause string
	// Fingerprint is the Plan.Fingerprint the caller confirmed; Up fails
	// with ErrPlanChanged, before changing anything, when its plan differs.
	Fingerprint string
}

// Up plans and applies req.Model and returns the release the instance runs
// afterwards: a new one, or the active one when nothing changed. On failure
// the previous replicas keep serving, the new release is marked failed and
// the error says which service and replica failed and why.
func (e *Engine) Up(ctx context.Context, req UpRequest, emit Emitter) (Release, error) {
	if req.Model == nil {
		return Release{}, fmt.Errorf("up: no model: %w", ErrInvalid)
	}
	m := req.Model
	name := m.Identity.Name()
	em := e.emitter(emit, name)
	m, mj, err := e.prepareModel(ctx, m)
	if err != nil {
		em.emit(Event{Kind: EventFailed, Error: err.Error()})
		return Release{}, err
	}
	if req.DryRun {
		return e.dryRun(ctx, m, mj, req.Runtime, "", em)
	}
	op, err := e.begin(ctx, name, "up", req.NoWait, em)
	if err != nil {
		em.emit(Event{Kind: EventFailed, Error: err.Error()})
		return Release{}, err
	}
	op.fingerprint = req.Fingerprint
	rel, msg, err := e.deploy(op, m, mj, req.Runtime, cmp.Or(req.Cause, "up"))
	op.finish(err, rel.Number, msg)
	return rel, err
}

// prepareModel checks a model that comes from a client, gives its sealed
// secrets their values and versions, and returns the model to deploy with
// its JSON as a release records it. The files it names and what it asks
// for are checked here, before a release exists, since the daemon reads
// them with its rights and starts what it asks; a secret without a value
// stops here, before anything changes.
func (e *Engine) prepareModel(ctx context.Context, m *stack.Model) (*stack.Model, []byte, error) {
	name := m.Identity.Name()
	if err := cmp.Or(m.CheckHostPaths(), m.CheckLimits(stack.Limits{})); err != nil {
		return nil, nil, fmt.Errorf("up %s: %w: %w", name, ErrInvalid, err)
	}
	m, err := e.resolveSealed(ctx, m)
	if err != nil {
		return nil, nil, err
	}
	mj, err := json.Marshal(m)
	if err != nil {
		return nil, nil, fmt.Errorf("encode model of %s: %w", name, err)
	}
	return m, mj, nil
}

// dryRun plans m without changing anything; preface goes before the plan's
// text (a promotion's summary).
func (e *Engine) dryRun(ctx context.Context, m *stack.Model, mj []byte, rtName, preface string, em *emitter) (Release, error) {
	s, err := e.observe(ctx, m.Identity.Name(), rtName, m)
	if err == nil {
		var p Plan
		if p, err = makePlan(s.obs, m, mj, e.defaultHost); err == nil {
			p.Text = preface + p.Text
			em.emit(Event{Kind: EventPlan, Text: p.Text, Release: p.Release})
			if err = refusal(p); err == nil {
				err = s.strategy.validate(ctx, m, em)
			}
		}
		if err == nil {
			em.emit(Event{Kind: EventDone, Message: "dry run: nothing was changed"})
			if p.Empty() && s.active != nil {
				return toRelease(*s.active)
			}
			return Release{Instance: s.name, Number: p.Release, Status: ReleasePending, Created: e.now(), Runtime: s.rtName,
				Model: m, Hashes: hashes(m), Images: images(m), Secrets: m.SecretVersions, Cause: "dry run"}, nil
		}
	}
	em.emit(Event{Kind: EventFailed, Error: err.Error()})
	return Release{}, err
}

func hashes(m *stack.Model) map[string]string {
	out := make(map[string]string, len(m.Services))
	for _, s := range m.Services {
		out[s.Name] = s.Hash
	}
	return out
}

func images(m *stack.Model) map[string]string {
	out := map[string]string{}
	for _, s := range m.Services {
		if s.Image != "" {
			out[s.Name] = s.Image
		}
	}
	return out
}

// toRelease converts a stored release.
func toRelease(r store.Release) (Release, error) {
	m, err := decodeModel(r)
	if err != nil {
		return Release{}, err
	}
	return Release{Instance: r.Instance, Number: r.Number, Status: ReleaseStatus(r.Status), Created: r.Created,
		Runtime: r.Runtime, Model: m, Hashes: r.Hashes, Images: r.Images, Secrets: r.Secrets, Cause: r.Cause, Error: r.Error}, nil
}

// deploy brings the locked instance to m (mj is its JSON as recorded):
// observe, plan, record a pending release, execute. It returns the release
// and the message of the final event.
func (e *Engine) deploy(op *operation, m *stack.Model, mj []byte, rtName, cause string) (Release, string, error) {
	ctx := op.ctx
	name := op.instance
	s, err := e.observe(ctx, name, rtName, m)
	if err != nil {
		return Release{}, "", err
	}
	p, err := makePlan(s.obs, m, mj, e.defaultHost)
	if err == nil {
		p.Text = op.preface + p.Text
		err = op.checkPlan(p)
	}
	if err != nil {
		return Release{}, "", err
	}
	op.emit.emit(Event{Kind: EventPlan, Text: p.Text, Release: p.Release})
	if err := refusal(p); err != nil {
		// Before a release or an instance is recorded: nothing is left
		// behind.
		return Release{}, "", err
	}
	if p.Empty() && s.active != nil {
		rel, err := toRelease(*s.active)
		return rel, fmt.Sprintf("%s is up to date at release %d", name, s.active.Number), err
	}
	if s.inst.Stopped && s.active != nil && p.Release == s.active.Number {
		// Down and unchanged: its release starts again, as `quai start` does.
		if err := e.startActive(op, s, p); err != nil {
			return Release{}, "", err
		}
		rel, err := toRelease(*s.active)
		return rel, fmt.Sprintf("%s runs release %d again", name, s.active.Number), err
	}
	defer e.holdImages()()
	imgs, run, err := e.prepareImages(op, s, m, p)
	if err != nil {
		return Release{}, "", err
	}
	inst := store.Instance{Name: name, Identity: m.Identity, Runtime: s.rtName, Dir: m.Dir, Stopped: s.inst.Stopped,
		Created: s.inst.Created, Updated: e.now()}
	if !s.exists {
		inst.Created = inst.Updated
	}
	if err := e.store.PutInstance(ctx, inst); err != nil {
		return Release{}, "", err
	}
	if !s.exists {
		// The volumes a removal kept, if any, are this instance's again.
		if err := e.store.DeleteRemovedInstance(ctx, name); err != nil {
			return Release{}, "", err
		}
	}
	rec, err := e.store.CreateRelease(ctx, store.Release{Instance: name, Status: store.StatusPending, Created: e.now(),
		Runtime: s.rtName, Model: mj, Resolved: m.Resolved, Hashes: hashes(m), Images: imgs, Secrets: m.SecretVersions, Cause: cause})
	if err != nil {
		return Release{}, "", err
	}
	if err := e.store.SetOperationRelease(ctx, op.record.ID, rec.Number); err != nil {
		return Release{}, "", err
	}
	rel := Release{Instance: name, Number: rec.Number, Status: ReleasePending, Created: rec.Created, Runtime: s.rtName,
		Model: m, Hashes: rec.Hashes, Images: rec.Images, Secrets: rec.Secrets, Cause: cause}
	p.Release = rec.Number
	if err = s.strategy.deploy(op, s, run, p, rec.Number); err != nil {
		rel.Status, rel.Error = ReleaseFailed, err.Error()
		keep := "nothing was running before"
		if s.active != nil && !s.inst.Stopped {
			keep = fmt.Sprintf("release %d keeps serving", s.active.Number)
		}
		return rel, "", fmt.Errorf("%s: release %d failed, %s: %w", name, rec.Number, keep, err)
	}
	rel.Status = ReleaseActive
	return rel, fmt.Sprintf("%s runs release %d", name, rec.Number), nil
}

// Rollback starts a new release whose spec is release `to`'s (0: the
// release that was active before the current one). Nothing is rebuilt.
func (e *Engine) Rollback(ctx context.Context, instance string, to int, emit Emitter) (Release, error) {
	em := e.emitter(emit, instance)
	op, err := e.beginExisting(ctx, instance, "rollback", em)
	if err != nil {
		return Release{}, err
	}
	rel, msg, err := e.rollback(op, to)
	op.finish(err, rel.Number, msg)
	return rel, err
}

// beginExisting locks an existing instance (waiting for a running
// operation) and emits the terminal event itself when it cannot.
func (e *Engine) beginExisting(ctx context.Context, instance, kind string, em *emitter) (*operation, error) {
	_, err := e.instance(ctx, instance)
	if err == nil {
		var op *operation
		if op, err = e.begin(ctx, instance, kind, false, em); err == nil {
			return op, nil
		}
	}
	em.emit(Event{Kind: EventFailed, Error: err.Error()})
	return nil, err
}

func (e *Engine) rollback(op *operation, to int) (Release, string, error) {
	ctx := op.ctx
	releases, err := e.store.Releases(ctx, op.instance)
	if err != nil {
		return Release{}, "", err
	}
	active := 0
	for _, r := range releases {
		if r.Status == store.StatusActive {
			active = r.Number
		}
	}
	var target *store.Release
	if to == 0 {
		for i, r := range releases { // newest first
			if r.Status == store.StatusSuperseded && (active == 0 || r.Number < active) {
				target = &releases[i]
				break
			}
		}
		if target == nil {
			return Release{}, "", fmt.Errorf("%s has no earlier release that ran; `quai releases %s` lists them: %w", op.instance, op.instance, ErrNoRelease)
		}
	} else {
		for i, r := range releases {
			if r.Number == to {
				target = &releases[i]
			}
		}
		switch {
		case target == nil:
			return Release{}, "", fmt.Errorf("%s has no release %d; `quai releases %s` lists them: %w", op.instance, to, op.instance, ErrNoRelease)
		case target.Status == store.StatusActive && !op.stopped(ctx, e):
			return Release{}, "", fmt.Errorf("release %d of %s is already active: %w", to, op.instance, ErrNoRelease)
		case target.Status == store.StatusFailed || target.Status == store.StatusPending:
			return Release{}, "", fmt.Errorf("release %d of %s never ran (%s); roll back to one that did: %w", to, op.instance, target.Status, ErrNoRelease)
		}
	}
	m, err := decodeModel(*target)
	if err != nil {
		return Release{}, "", err
	}
	// The release's own images: a rollback never rebuilds nor pulls.
	m = pinModel(m, target.Images)
	return e.deploy(op, m, target.Model, target.Runtime, fmt.Sprintf("rollback to %d", target.Number))
}

// stopped reports whether the operation's instance was taken down.
func (op *operation) stopped(ctx context.Context, e *Engine) bool {
	in, err := e.store.Instance(ctx, op.instance)
	return err == nil && in.Stopped
}

// Restart replaces the replicas of one service ("" = every service) with
// new ones of the same spec, in dependency order; routed services switch
// over without downtime. No release is created.
func (e *Engine) Restart(ctx context.Context, instance, service string, emit Emitter) error {
	em := e.emitter(emit, instance)
	op, err := e.beginExisting(ctx, instance, "restart", em)
	if err != nil {
		return err
	}
	err = e.restart(op, service)
	msg := "restarted " + instance
	if service != "" {
		msg = "restarted " + service + " of " + instance
	}
	op.finish(err, 0, msg)
	return err
}

func (e *Engine) restart(op *operation, service string) error {
	s, err := e.observe(op.ctx, op.instance, "", nil)
	if err != nil {
		return err
	}
	if s.inst.Stopped {
		return fmt.Errorf("%s is down; `quai start %s` brings it back: %w", op.instance, op.instance, ErrInvalid)
	}
	if s.active == nil {
		return fmt.Errorf("%s has no active release to restart: %w", op.instance, ErrNoRelease)
	}
	return s.strategy.restart(op, s, s.activeModel, service)
}

// Down stops every replica and removes the instance's routes, keeping its
// releases, volumes and data; `start` (or an unchanged `up`) starts it again.
func (e *Engine) Down(ctx context.Context, instance string, emit Emitter) error {
	em := e.emitter(emit, instance)
	op, err := e.beginExisting(ctx, instance, "down", em)
	if err != nil {
		return err
	}
	err = e.down(op)
	op.finish(err, 0, instance+" is down; its releases, volumes and data are kept")
	return err
}

func (e *Engine) down(op *operation) error {
	ctx := op.ctx
	inst, err := e.store.Instance(ctx, op.instance)
	if err != nil {
		return err
	}
	st, err := e.strategyFor(inst.Runtime)
	if err != nil {
		return err
	}
	if err := st.down(op, inst); err != nil {
		return err
	}
	inst.Stopped, inst.Updated = true, e.now()
	return e.store.PutInstance(ctx, inst)
}

// stopInstance takes the instance's routes away (park: leaves them without
// targets, so the proxy answers 503 rather than 404 for a stopped instance),
// drains, then stops and removes its replicas, dependents before what they
// depend on. Replicas that would not stop stay recorded so a retry finds
// them.
func (e *Engine) stopInstance(ctx context.Context, op *operation, inst store.Instance, rt runtime.ReplicaRunner, park bool) error {
	handles, err := e.store.Handles(ctx, inst.Name)
	if err != nil {
		return err
	}
	if e.router != nil {
		parked := false
		if park {
			if active, err := e.store.ActiveRelease(ctx, inst.Name); err == nil {
				if m, err := decodeModel(active); err == nil {
					parked = e.parkRoutes(inst.Name, m, op.emit)
				}
			}
		}
		if !parked {
			e.router.RemoveInstance(inst.Name)
		}
		all := map[string]bool{}
		for _, h := range handles {
			all[h.Address] = true
		}
		e.drain(context.WithoutCancel(ctx), handles, all, nil, op.emit)
	}
	groups := byService(handles)
	var order []string
	var m *stack.Model
	if active, err := e.store.ActiveRelease(ctx, inst.Name); err == nil {
		if m, err = decodeModel(active); err == nil {
			if svcs, err := startOrder(m, true); err == nil {
				for _, s := range svcs {
					order = append(order, s.Name)
				}
			}
		}
	}
	seen := map[string]bool{}
	for _, n := range order {
		seen[n] = true
	}
	for svc := range groups {
		if !seen[svc] {
			order = append([]string{svc}, order...)
		}
	}
	var failed []runtime.Handle
	var errs []error
	for i := len(order) - 1; i >= 0; i-- {
		hs := groups[order[i]]
		if len(hs) == 0 {
			continue
		}
		if err := e.stopAll(ctx, rt, hs, m, op.emit, false); err != nil {
			errs = append(errs, err)
			failed = append(failed, hs...)
			continue
		}
		e.removeAll(context.WithoutCancel(ctx), rt, hs, op.emit)
	}
	if err := e.store.ReplaceHandles(context.WithoutCancel(ctx), inst.Name, failed); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("stop %s: %w", inst.Name, errors.Join(errs...))
	}
	return nil
}

// Remove stops and deletes the instance: replicas, routes, releases and
// records. Volumes and data stay unless purge is set.
func (e *Engine) Remove(ctx context.Context, instance string, purge bool, emit Emitter) error {
	em := e.emitter(emit, instance)
	if _, err := e.store.Instance(ctx, instance); errors.Is(err, store.ErrNotFound) {
		if r, ok := e.removedInstance(ctx, instance); ok {
			if purge {
				return e.purgeRemoved(ctx, instance, em)
			}
			err := fmt.Errorf("%s was removed %s and its volumes kept: `quai rm --purge %s` deletes them, `quai volumes ls` lists them: %w",
				instance, r.Removed.Format("2006-01-02 15:04"), instance, ErrNotFound)
			em.emit(Event{Kind: EventFailed, Error: err.Error()})
			return err
		}
	}
	op, err := e.beginExisting(ctx, instance, "remove", em)
	if err != nil {
		return err
	}
	msg, err := e.remove(op, purge)
	op.finish(err, 0, msg)
	return err
}

func (e *Engine) remove(op *operation, purge bool) (string, error) {
	ctx := op.ctx
	inst, err := e.store.Instance(ctx, op.instance)
	if err != nil {
		return "", err
	}
	st, err := e.strategyFor(inst.Runtime)
	if err != nil {
		return "", err
	}
	msg, err := st.remove(op, inst, purge)
	if err != nil {
		return "", err
	}
	if err := e.store.DeleteInstance(context.WithoutCancel(ctx), op.instance); err != nil {
		return "", err
	}
	if err := e.keepRemoved(context.WithoutCancel(ctx), st, inst, purge); err != nil {
		return "", err
	}
	// Generated secrets outlive a removal, as the volumes whose data was
	// made with them do; a purge takes both.
	if purge {
		if err := e.store.DeleteSecretVersions(context.WithoutCancel(ctx), op.instance); err != nil {
			return "", err
		}
	}
	op.deleted = true
	return msg, nil
}
