package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
)

// snapshot is everything observe read about an instance: the planning input
// (obs) and what execution needs besides (handles, statuses, the runtime).
type snapshot struct {
	name        string
	inst        store.Instance
	exists      bool
	rtName      string
	rt          runtime.Runtime
	strategy    strategy
	active      *store.Release
	activeModel *stack.Model
	handles     []runtime.Handle
	status      map[string]replicaStatus // by replica name
	obs         observed
}

type replicaStatus struct {
	status runtime.Status
	err    error
	ok     bool
}

// byService groups handles by service, each group sorted by replica name.
func byService(hs []runtime.Handle) map[string][]runtime.Handle {
	out := map[string][]runtime.Handle{}
	for _, h := range hs {
		out[h.Service] = append(out[h.Service], h)
	}
	for _, g := range out {
		sortHandles(g)
	}
	return out
}

func sortHandles(hs []runtime.Handle) {
	sort.Slice(hs, func(i, j int) bool {
		ri, rj := replicaOrder(hs[i]), replicaOrder(hs[j])
		if ri != rj {
			return ri < rj
		}
		return hs[i].Replica < hs[j].Replica
	})
}

// replicaOrder sorts replicas by their index, then by name, so that scaling
// down removes the last ones and discovery picks the first.
func replicaOrder(h runtime.Handle) int {
	_, idx, _ := parseReplica(h)
	return idx
}

// decodeModel returns the model a release recorded.
func decodeModel(r store.Release) (*stack.Model, error) {
	var m stack.Model
	if err := json.Unmarshal(r.Model, &m); err != nil {
		return nil, fmt.Errorf("release %d of %s: decode model: %w", r.Number, r.Instance, err)
	}
	m.Resolved = r.Resolved
	return &m, nil
}

// chooseRuntime decides the runtime of an operation: the instance's when it
// exists (a different one is refused), else the requested or default one.
func (e *Engine) chooseRuntime(inst store.Instance, exists bool, requested string) (string, strategy, error) {
	name := requested
	switch {
	case exists && requested != "" && requested != inst.Runtime:
		return "", nil, fmt.Errorf("instance %s runs on the %s runtime, not %s; remove it first to move it: %w",
			inst.Name, inst.Runtime, requested, ErrInvalid)
	case exists:
		name = inst.Runtime
	case name == "":
		name = e.defaultRuntime
	}
	st, err := e.strategyFor(name)
	return name, st, err
}

// observe reads the instance's state from the store and asks the runtime
// how each recorded replica is. want is the model about to be applied (nil
// when there is none), used to recognise one-shot jobs.
func (e *Engine) observe(ctx context.Context, name, requestedRuntime string, want *stack.Model) (*snapshot, error) {
	s := &snapshot{name: name, status: map[string]replicaStatus{}}
	inst, err := e.store.Instance(ctx, name)
	switch {
	case err == nil:
		s.inst, s.exists = inst, true
	case errors.Is(err, store.ErrNotFound):
	default:
		return nil, err
	}
	if s.rtName, s.strategy, err = e.chooseRuntime(inst, s.exists, requestedRuntime); err != nil {
		return nil, err
	}
	s.rt = s.strategy.runtime()
	s.obs = observed{Instance: name, Next: 1, Declared: map[string]string{}, Replicas: map[string][]observedReplica{},
		Stopped: s.inst.Stopped, Discovery: !s.rt.Capabilities().Isolation, Runtime: s.rtName}
	if want != nil {
		// What the runtime will not run as written, and the routes other
		// instances serve, are known before anything starts.
		if a, ok := s.rt.(runtime.Assessor); ok {
			s.obs.Findings = a.Assess(want)
		}
		if s.strategy.proxied() {
			if s.obs.Taken, err = e.takenRoutes(ctx, name); err != nil {
				return nil, err
			}
		}
	}
	if !s.exists {
		if want == nil {
			return s, nil
		}
		// A runtime that cannot be reached (or configured) says so now,
		// before a release is recorded.
		return s, s.strategy.observe(ctx, s, want.Identity, nil)
	}
	releases, err := e.store.Releases(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(releases) > 0 {
		s.obs.Next = releases[0].Number + 1
	}
	for i := range releases {
		if releases[i].Status != store.StatusActive {
			continue
		}
		r := releases[i]
		s.active = &r
		if s.activeModel, err = decodeModel(r); err != nil {
			return nil, err
		}
		if _, ok := s.rt.(runtime.ImageManager); ok {
			s.activeModel = pinModel(s.activeModel, r.Images)
		}
		s.obs.Active = r.Number
		s.obs.Model = r.Model
		s.obs.Routes = routeLines(s.activeModel, e.defaultHost)
		maps.Copy(s.obs.Declared, r.Hashes)
		break
	}
	jobs := map[string]bool{}
	for _, m := range []*stack.Model{want, s.activeModel} {
		if m != nil {
			for j := range jobServices(m) {
				jobs[j] = true
			}
		}
	}
	return s, s.strategy.observe(ctx, s, s.inst.Identity, jobs)
}

// inspect asks the runtime about one replica. A replica is OK when it runs
// (healthy or still starting: the runtime restarts and checks it), or when
// it is a job that completed successfully.
func (e *Engine) inspect(ctx context.Context, rt runtime.Runtime, h runtime.Handle, job bool) replicaStatus {
	st, err := rt.Inspect(ctx, h)
	if err != nil {
		return replicaStatus{err: err}
	}
	return replicaStatus{status: st, ok: replicaOK(st, job)}
}

// Plan observes the instance and returns what Up would do with m, without
// changing anything. runtimeName "" means the instance's runtime (or the
// default one for a new instance).
func (e *Engine) Plan(ctx context.Context, m *stack.Model, runtimeName string) (Plan, error) {
	if m == nil {
		return Plan{}, fmt.Errorf("plan: no model: %w", ErrInvalid)
	}
	// The plan Up makes folds the secret versions into the hashes: so
	// must the plan the caller confirms.
	m, err := e.resolveSealed(ctx, m)
	if err != nil {
		return Plan{}, err
	}
	s, err := e.observe(ctx, m.Identity.Name(), runtimeName, m)
	if err != nil {
		return Plan{}, err
	}
	mj, err := json.Marshal(m)
	if err != nil {
		return Plan{}, fmt.Errorf("encode model of %s: %w", m.Identity.Name(), err)
	}
	return makePlan(s.obs, m, mj, e.defaultHost)
}

// takenRoutes maps the routes that the other running instances serve
// through quai's proxy (routeKey) to the instance serving each. Instances
// that are down serve none: their routes were removed.
func (e *Engine) takenRoutes(ctx context.Context, self string) (map[string]string, error) {
	insts, err := e.store.Instances(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, in := range insts {
		if in.Name == self || in.Stopped {
			continue
		}
		if st, err := e.strategyFor(in.Runtime); err != nil || !st.proxied() {
			continue
		}
		rel, err := e.store.ActiveRelease(ctx, in.Name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		m, err := decodeModel(rel)
		if err != nil {
			return nil, err
		}
		for _, r := range m.Routes {
			out[routeKey(routeHost(r, m.Identity, e.defaultHost), routePath(r))] = in.Name
		}
	}
	return out, nil
}
