package engine

import (
	"context"
	"fmt"
)

// Start brings a downed instance back: the replicas of its active release
// start again as that release ran them, with no new release, no build and
// no pull. An instance that runs already is left as it is.
func (e *Engine) Start(ctx context.Context, instance string, emit Emitter) (Release, error) {
	em := e.emitter(emit, instance)
	op, err := e.beginExisting(ctx, instance, "start", em)
	if err != nil {
		return Release{}, err
	}
	rel, msg, err := e.start(op)
	op.finish(err, rel.Number, msg)
	return rel, err
}

func (e *Engine) start(op *operation) (Release, string, error) {
	s, err := e.observe(op.ctx, op.instance, "", nil)
	if err != nil {
		return Release{}, "", err
	}
	if s.active == nil {
		return Release{}, "", fmt.Errorf("%s has no release that ran; `quai up` in its project deploys it: %w", op.instance, ErrNoRelease)
	}
	rel, err := toRelease(*s.active)
	if err != nil {
		return Release{}, "", err
	}
	if !s.inst.Stopped {
		return rel, fmt.Sprintf("%s is not down: it runs release %d (`quai restart %s` replaces its replicas)", op.instance, rel.Number, op.instance), nil
	}
	p, err := makePlan(s.obs, s.activeModel, s.active.Model, e.defaultHost)
	if err == nil {
		p.Text = op.preface + p.Text
		err = op.checkPlan(p)
	}
	if err != nil {
		return Release{}, "", err
	}
	op.emit.emit(Event{Kind: EventPlan, Text: p.Text, Release: p.Release})
	if err := e.startActive(op, s, p); err != nil {
		return Release{}, "", err
	}
	return rel, fmt.Sprintf("%s runs release %d again", op.instance, rel.Number), nil
}

// startActive starts the active release of the downed instance of s (p is
// the plan that starts it) and records the instance as running.
func (e *Engine) startActive(op *operation, s *snapshot, p Plan) error {
	if err := s.strategy.start(op, s, p); err != nil {
		return fmt.Errorf("%s: release %d did not start, the instance stays down: %w", op.instance, s.active.Number, err)
	}
	inst := s.inst
	inst.Stopped, inst.Updated = false, e.now()
	return e.store.PutInstance(context.WithoutCancel(op.ctx), inst)
}
