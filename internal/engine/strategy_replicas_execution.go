package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
)

// execution carries out one plan. Until the switch (routes swapped and the
// new state persisted) every change can be undone: new replicas are stopped
// and replicas stopped early are started again. After the switch only old
// replicas are drained and stopped, and failures there are warnings.
type execution struct {
	e     *Engine
	op    *operation
	snap  *snapshot
	rt    runtime.ReplicaRunner
	model *stack.Model
	plan  Plan
	// release numbers replica names and handles: the new release, or the
	// active one for a restart (newRelease false).
	release    int
	newRelease bool

	current map[string][]runtime.Handle
	// mu guards what the services, applied concurrently, record: next,
	// addrs, started, retire, stoppedEarly and names.
	mu   sync.Mutex
	next map[string][]runtime.Handle
	// addrs are the discovery addresses, updated as services start;
	// oldAddrs are those before the execution, for undoing.
	addrs    map[string]string
	oldAddrs map[string]string
	// started are replicas this execution started: stopped on failure.
	started []runtime.Handle
	// retire are replicas that leave: drained, stopped and removed after
	// the switch.
	retire []runtime.Handle
	// stoppedEarly are replicas of non-routed services stopped before their
	// successors started (two database servers must not share a data
	// directory); on failure they are started again.
	stoppedEarly []runtime.Handle
	names        map[string]bool
	jobs         map[string]bool
	// routesSet records that the router has the new table.
	routesSet bool
}

func (e *Engine) newExecution(op *operation, s *snapshot, rt runtime.ReplicaRunner, m *stack.Model, p Plan, release int, newRelease bool) *execution {
	x := &execution{
		e: e, op: op, snap: s, rt: rt, model: m, plan: p, release: release, newRelease: newRelease,
		current: byService(s.handles), next: map[string][]runtime.Handle{}, addrs: map[string]string{},
		names: map[string]bool{}, jobs: jobServices(m),
	}
	for _, h := range s.handles {
		x.names[h.Replica] = true
	}
	for _, svc := range m.Services {
		for _, h := range x.current[svc.Name] {
			if s.status[h.Replica].ok && h.Address != "" {
				x.addrs[svc.Name] = h.Address
				break
			}
		}
	}
	x.oldAddrs = maps.Clone(x.addrs)
	return x
}

// run executes the plan; on error before the switch everything is undone.
func (x *execution) run() error {
	ctx := x.op.ctx
	if x.newRelease && x.snap.activeModel == nil {
		// A first release: its hosts answer the proxy's 503 page, not
		// 404, until its replicas are healthy.
		x.e.parkRoutes(x.snap.name, x.model, x.op.emit)
	}
	if err := x.services(ctx); err != nil {
		return x.fail(err)
	}
	if err := ctx.Err(); err != nil {
		return x.fail(err)
	}
	if err := x.switchOver(ctx); err != nil {
		return x.fail(err)
	}
	x.retireOld(ctx)
	if x.newRelease {
		// A successful release ends the wait of failed ones for a reader.
		x.e.discardKept(context.WithoutCancel(ctx), x.snap.name, x.rt, x.op.emit)
	}
	return nil
}

// service applies one service's plan: it calls started once the new
// replicas run and their address is recorded, then waits until they are
// healthy.
func (x *execution) service(ctx context.Context, sp ServicePlan, started func()) error {
	svc := x.model.Service(sp.Service)
	cur := x.current[sp.Service]
	var next, fresh, retire []runtime.Handle
	var err error
	switch sp.Action {
	case ActionKeep:
		next = cur
	case ActionCreate:
		if fresh, err = x.startReplicas(ctx, svc, sp.To, nil); err != nil {
			return err
		}
		next = fresh
	case ActionReplace:
		// Stop first what has no route to switch over (nothing waits for
		// it) and what says its replicas cannot overlap (stop-first).
		if (!sp.Routed || svc.StopFirst) && len(cur) > 0 {
			x.op.emit.step("stop", sp.Service, "", "stopping the old replicas before starting new ones")
			err := x.e.stopAll(ctx, x.rt, cur, x.snap.activeModel, x.op.emit, false)
			x.mu.Lock()
			x.stoppedEarly = append(x.stoppedEarly, cur...)
			x.mu.Unlock()
			if err != nil {
				return err
			}
			x.op.emit.stepDone("stop", sp.Service, "", "")
		}
		if fresh, err = x.startReplicas(ctx, svc, sp.To, nil); err != nil {
			return err
		}
		retire, next = cur, fresh
	case ActionRecreate:
		var keep, dead []runtime.Handle
		for _, h := range cur {
			if x.snap.status[h.Replica].ok {
				keep = append(keep, h)
			} else {
				dead = append(dead, h)
			}
		}
		if len(keep) > sp.To {
			dead = append(dead, keep[sp.To:]...)
			keep = keep[:sp.To]
		}
		if fresh, err = x.startReplicas(ctx, svc, sp.To-len(keep), keep); err != nil {
			return err
		}
		retire = dead
		next = append(append([]runtime.Handle(nil), keep...), fresh...)
	case ActionScale:
		if sp.To > len(cur) {
			if fresh, err = x.startReplicas(ctx, svc, sp.To-len(cur), cur); err != nil {
				return err
			}
			next = append(append([]runtime.Handle(nil), cur...), fresh...)
		} else {
			next = cur[:sp.To]
			retire = cur[sp.To:]
		}
	case ActionRemove:
		retire = cur
	default:
		return fmt.Errorf("service %s: unknown action %q", sp.Service, sp.Action)
	}
	x.mu.Lock()
	x.retire = append(x.retire, retire...)
	if svc != nil {
		x.next[sp.Service] = next
		delete(x.addrs, sp.Service)
		for _, h := range next {
			if h.Address != "" {
				x.addrs[sp.Service] = h.Address
				break
			}
		}
	}
	x.mu.Unlock()
	started()
	if len(fresh) == 0 {
		return nil
	}
	return x.waitReady(ctx, svc, fresh)
}

// parseReplica reads the release, index and generation from a replica name
// the engine made: <service>-r<release>-<index>[-<generation>].
func parseReplica(h runtime.Handle) (release, index, gen int) {
	rest, ok := strings.CutPrefix(h.Replica, h.Service+"-r")
	if !ok {
		return 0, 0, 0
	}
	parts := strings.Split(rest, "-")
	nums := make([]int, 3)
	for i := 0; i < len(parts) && i < 3; i++ {
		nums[i], _ = strconv.Atoi(parts[i])
	}
	return nums[0], nums[1], nums[2]
}

// replicaName is a name no current replica of the instance has: a restart
// within the same release gets a generation suffix. The caller holds x.mu.
func (x *execution) replicaName(service string, index int) string {
	base := fmt.Sprintf("%s-r%d-%d", service, x.release, index)
	name := base
	for g := 2; x.names[name]; g++ {
		name = fmt.Sprintf("%s-%d", base, g)
	}
	x.names[name] = true
	return name
}

// startReplicas starts n replicas of svc concurrently, with the lowest
// indices that the existing replicas do not use. Every replica that
// started is recorded for undoing, even when another one failed.
func (x *execution) startReplicas(ctx context.Context, svc *stack.Service, n int, existing []runtime.Handle) ([]runtime.Handle, error) {
	if n <= 0 {
		return nil, nil
	}
	used := map[int]bool{}
	for _, h := range existing {
		_, idx, _ := parseReplica(h)
		used[idx] = true
	}
	sealed, err := x.e.secretValues(ctx, x.model)
	if err != nil {
		return nil, err
	}
	secrets, secretEnv, err := secretsFor(x.model, svc, sealed)
	if err != nil {
		return nil, err
	}
	specs := make([]runtime.ReplicaSpec, n)
	x.mu.Lock()
	idx := 0
	for i := range specs {
		idx++
		for used[idx] {
			idx++
		}
		name := x.replicaName(svc.Name, idx)
		specs[i] = runtime.ReplicaSpec{
			Instance: x.model.Identity, Service: svc, Release: x.release, Index: idx, Replica: name,
			ProjectDir: x.model.Dir, Secrets: secrets, SecretEnv: secretEnv,
		}
		if x.snap.obs.Discovery {
			specs[i].Env = discoveryEnv(svc, x.addrs)
		}
	}
	x.mu.Unlock()
	out := make([]runtime.Handle, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, spec := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x.op.emit.step("start", svc.Name, spec.Replica, "")
			h, err := x.rt.Start(ctx, spec)
			if err != nil {
				errs[i] = fmt.Errorf("service %s: start replica %s: %w", svc.Name, spec.Replica, err)
				return
			}
			out[i] = completeHandle(h, x.rt.Name(), x.model.Identity, svc, spec.Replica, x.release)
			x.op.emit.stepDone("start", svc.Name, spec.Replica, out[i].Address)
		}()
	}
	wg.Wait()
	x.mu.Lock()
	for i := range out {
		if errs[i] == nil {
			x.started = append(x.started, out[i])
		}
	}
	x.mu.Unlock()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// completeHandle fills what the engine relies on if a runtime left it out.
func completeHandle(h runtime.Handle, rtName string, id stack.Identity, svc *stack.Service, name string, release int) runtime.Handle {
	if h.Version == 0 {
		h.Version = runtime.HandleVersion
	}
	if h.Runtime == "" {
		h.Runtime = rtName
	}
	if h.Instance == (stack.Identity{}) {
		h.Instance = id
	}
	h.Service, h.Replica, h.Release, h.Hash = svc.Name, name, release, svc.Hash
	return h
}

// waitReady waits until every replica is healthy (a job: exited with 0),
// within the health timeout. A replica that crashed crashLimit times, or
// exited for good, fails at once rather than at the timeout. The error (a
// *replicaFailure) names the replica that was not ready and why.
func (x *execution) waitReady(ctx context.Context, svc *stack.Service, hs []runtime.Handle) error {
	job := x.jobs[svc.Name]
	what := "healthy"
	if job {
		what = "completed"
	}
	deadline := time.NewTimer(x.e.healthTimeout)
	defer deadline.Stop()
	x.op.emit.emit(Event{Kind: EventStep, Step: "health", Service: svc.Name, Deadline: x.e.now().Add(x.e.healthTimeout),
		Message: "waiting for " + strconv.Itoa(len(hs)) + " replica(s) to be " + what})
	tick := time.NewTicker(x.e.pollInterval)
	defer tick.Stop()
	lastReady := -1
	for {
		ready := 0
		var bad runtime.Handle
		var badStatus runtime.Status
		var badErr error
		for _, h := range hs {
			st, err := x.rt.Inspect(ctx, h)
			switch {
			case err == nil && job && st.State == runtime.StateExited && st.ExitCode == 0:
				ready++
				continue
			case err == nil && job && st.State == runtime.StateExited:
				return &replicaFailure{handle: h, reason: "exited with " + exitReason(st.ExitCode, st.Message),
					err: fmt.Errorf("service %s: job replica %s exited with code %d: %s: %w", svc.Name, h.Replica, st.ExitCode, describe(st, nil), ErrUnhealthy)}
			case err == nil && !job && st.Healthy():
				ready++
				continue
			case err == nil && !job && (crashes(st) >= x.e.crashLimit || st.State == runtime.StateExited):
				reason := failureReason(st, nil)
				return &replicaFailure{handle: h, reason: reason,
					err: fmt.Errorf("service %s: replica %s %s: %w", svc.Name, h.Replica, reason, ErrUnhealthy)}
			}
			if bad.Replica == "" {
				bad, badStatus, badErr = h, st, err
			}
		}
		if ready != lastReady {
			lastReady = ready
			x.op.emit.emit(Event{Kind: EventProgress, Step: "health", Service: svc.Name, Current: ready, Total: len(hs),
				Message: fmt.Sprintf("%d/%d %s", ready, len(hs), what)})
		}
		if ready == len(hs) {
			x.op.emit.stepDone("health", svc.Name, "", "")
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("service %s: waiting for replica %s: %w", svc.Name, bad.Replica, ctx.Err())
		case <-deadline.C:
			return &replicaFailure{handle: bad, reason: fmt.Sprintf("not %s within %s: %s", what, x.e.healthTimeout, failureReason(badStatus, badErr)),
				err: fmt.Errorf("service %s: replica %s did not become %s within %s: %s: %w",
					svc.Name, bad.Replica, what, x.e.healthTimeout, describe(badStatus, badErr), ErrUnhealthy)}
		case <-tick.C:
		}
	}
}

// describe summarises a replica status for an error message.
func describe(st runtime.Status, err error) string {
	if err != nil {
		return err.Error()
	}
	s := fmt.Sprintf("state %s, health %s", st.State, st.Health)
	if st.Restarts > 0 {
		s += fmt.Sprintf(", %d restarts", st.Restarts)
	}
	if st.Message != "" {
		s += ", last message: " + st.Message
	}
	return s
}

// oldRoutes is the route table the router has before the switch.
func (x *execution) oldRoutes() []Route {
	if x.snap.activeModel == nil || x.snap.inst.Stopped {
		return nil
	}
	ok := map[string][]runtime.Handle{}
	for svc, hs := range x.current {
		for _, h := range hs {
			if x.snap.status[h.Replica].ok {
				ok[svc] = append(ok[svc], h)
			}
		}
	}
	return buildRoutes(x.snap.activeModel, ok, x.e.defaultHost)
}

// switchOver swaps the router's table and persists the new state. If the
// persist fails, the router gets the old table back.
func (x *execution) switchOver(ctx context.Context) error {
	routes, err := x.e.withRouteSecrets(ctx, x.model, buildRoutes(x.model, x.next, x.e.defaultHost))
	if err != nil {
		return err
	}
	if err := x.e.applyRoutes(x.snap.name, routes, x.op.emit); err != nil {
		return err
	}
	x.routesSet = true
	var all []runtime.Handle
	for _, hs := range x.next {
		all = append(all, hs...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Replica < all[j].Replica })
	// Once the router serves the new replicas the state must be recorded
	// even if the caller went away.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	x.op.emit.step("persist", "", "", "")
	if x.newRelease {
		err = x.e.store.SwitchRelease(pctx, store.Switch{Instance: x.snap.name, Release: x.release, Handles: all, At: x.e.now()})
	} else {
		err = x.e.store.ReplaceHandles(pctx, x.snap.name, all)
	}
	if err != nil {
		return fmt.Errorf("record the new state: %w", err)
	}
	x.routesSet = false // committed: nothing to revert any more
	x.op.emit.stepDone("persist", "", "", "")
	return nil
}

// applyRoutes gives the router the instance's table (none: removed).
func (e *Engine) applyRoutes(instance string, routes []Route, em *emitter) error {
	if e.router == nil {
		if len(routes) > 0 {
			em.warn("", "", "no proxy is configured: the routes are not served")
		}
		return nil
	}
	if len(routes) == 0 {
		e.router.RemoveInstance(instance)
		return nil
	}
	em.step("switch", "", "", fmt.Sprintf("routing %d route(s) to the new replicas", len(routes)))
	if err := e.router.SetRoutes(instance, routes); err != nil {
		return fmt.Errorf("update proxy routes: %w", err)
	}
	em.stepDone("switch", "", "", "")
	return nil
}

// retireOld drains and stops the replicas that left. The new release is
// already active, so failures are warnings (and leftovers orphans that
// Recover cleans).
func (x *execution) retireOld(ctx context.Context) {
	if len(x.retire) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	x.e.drain(ctx, x.retire, routeTargets(x.oldRoutes()), routeTargets(buildRoutes(x.model, x.next, x.e.defaultHost)), x.op.emit)
	early := map[string]bool{}
	for _, h := range x.stoppedEarly {
		early[h.Replica] = true
	}
	var stop []runtime.Handle
	for _, h := range x.retire {
		if !early[h.Replica] {
			stop = append(stop, h)
		}
	}
	_ = x.e.stopAll(ctx, x.rt, stop, x.snap.activeModel, x.op.emit, true)
	x.e.removeAll(ctx, x.rt, x.retire, x.op.emit)
}

// drain waits (DrainTimeout) for in-flight requests to those of hs that
// were targets before and are not any more.
func (e *Engine) drain(ctx context.Context, hs []runtime.Handle, before, after map[string]bool, em *emitter) {
	if e.router == nil {
		return
	}
	var targets []string
	for _, h := range hs {
		if h.Address != "" && before[h.Address] && !after[h.Address] {
			targets = append(targets, h.Address)
		}
	}
	if len(targets) == 0 {
		return
	}
	sort.Strings(targets)
	em.step("drain", "", "", "draining "+strings.Join(targets, ", "))
	dctx, cancel := context.WithTimeout(ctx, e.drainTimeout)
	defer cancel()
	if err := e.router.Drain(dctx, targets); err != nil {
		em.warn("", "", fmt.Sprintf("draining %s did not finish within %s (%v); stopping anyway", strings.Join(targets, ", "), e.drainTimeout, err))
		return
	}
	em.stepDone("drain", "", "", "")
}

// graceOf is how long a replica of the service may take to stop: its
// stop_grace_period in m (the model it was started from; nil when unknown),
// else the engine's stop grace.
func (e *Engine) graceOf(m *stack.Model, service string) time.Duration {
	if m != nil {
		if s := m.Service(service); s != nil && s.StopGracePeriod > 0 {
			return s.StopGracePeriod
		}
	}
	return e.stopGrace
}

// stopAll stops replicas in parallel, each with its service's grace in m
// (see graceOf). With warnOnly, failures are reported as warnings and nil
// is returned.
func (e *Engine) stopAll(ctx context.Context, rt runtime.ReplicaRunner, hs []runtime.Handle, m *stack.Model, em *emitter, warnOnly bool) error {
	var wg sync.WaitGroup
	errs := make([]error, len(hs))
	for i, h := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			em.step("stop", h.Service, h.Replica, "")
			grace := e.graceOf(m, h.Service)
			sctx, cancel := context.WithTimeout(ctx, grace+30*time.Second)
			defer cancel()
			err := rt.Stop(sctx, h, grace)
			if err != nil && !errors.Is(err, runtime.ErrNotFound) {
				errs[i] = fmt.Errorf("stop replica %s: %w", h.Replica, err)
				if warnOnly {
					em.warn(h.Service, h.Replica, errs[i].Error())
				}
				return
			}
			em.stepDone("stop", h.Service, h.Replica, "")
		}()
	}
	wg.Wait()
	if warnOnly {
		return nil
	}
	return errors.Join(errs...)
}

// removeAll removes what the runtime created for stopped replicas; failures
// are warnings.
func (e *Engine) removeAll(ctx context.Context, rt runtime.ReplicaRunner, hs []runtime.Handle, em *emitter) {
	for _, h := range hs {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := rt.Remove(rctx, h)
		cancel()
		if err != nil && !errors.Is(err, runtime.ErrNotFound) {
			em.warn(h.Service, h.Replica, fmt.Sprintf("remove replica %s: %v", h.Replica, err))
		}
	}
}

// fail undoes what the execution did before the switch: the router gets the
// old table back if it had the new one, new replicas are stopped and
// removed, replicas stopped early are started again, and the release is
// marked failed. It returns cause.
func (x *execution) fail(cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(x.op.ctx), 2*x.e.stopGrace+time.Minute)
	defer cancel()
	em := x.op.emit
	if x.routesSet {
		old, err := x.oldRoutes(), error(nil)
		if x.snap.activeModel != nil && len(old) > 0 {
			old, err = x.e.withRouteSecrets(ctx, x.snap.activeModel, old)
		}
		if err == nil {
			err = x.e.applyRoutes(x.snap.name, old, em)
		}
		if err != nil {
			em.warn("", "", "restoring the previous routes failed: "+err.Error())
		}
	}
	var rf *replicaFailure
	if errors.As(cause, &rf) && rf.handle.Replica != "" {
		x.report(ctx, rf)
	}
	switch {
	case len(x.started) == 0:
	case x.newRelease:
		// The failed release's replicas stay, stopped, with their logs.
		x.keepFailed(ctx)
		if rf != nil {
			cause = fmt.Errorf("%w (its logs: quai logs %s --release %d)", cause, x.snap.name, x.release)
		}
	default:
		em.step("undo", "", "", fmt.Sprintf("stopping %d new replica(s)", len(x.started)))
		_ = x.e.stopAll(ctx, x.rt, x.started, x.model, em, true)
		x.e.removeAll(ctx, x.rt, x.started, em)
	}
	if len(x.stoppedEarly) > 0 {
		x.restartEarly(ctx)
	}
	if x.newRelease {
		if err := x.e.store.FailRelease(ctx, x.snap.name, x.release, cause.Error()); err != nil {
			em.warn("", "", "cannot mark the release failed: "+err.Error())
		}
	}
	return cause
}

// restartEarly starts again, with their previous spec and names, the
// replicas of non-routed services that were stopped before the failure,
// and records their new handles.
func (x *execution) restartEarly(ctx context.Context) {
	em := x.op.emit
	old := x.snap.activeModel
	replaced := map[string]runtime.Handle{}
	for _, h := range x.stoppedEarly {
		var svc *stack.Service
		if old != nil {
			svc = old.Service(h.Service)
		}
		if svc == nil {
			em.warn(h.Service, h.Replica, "cannot restart the previous replica: its service is not in the active release")
			continue
		}
		if err := x.rt.Remove(ctx, h); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			em.warn(h.Service, h.Replica, "cannot restart the previous replica: "+err.Error())
			continue
		}
		release, idx, _ := parseReplica(h)
		sealed, err := x.e.secretValues(ctx, old)
		var secrets, secretEnv map[string][]byte
		if err == nil {
			secrets, secretEnv, err = secretsFor(old, svc, sealed)
		}
		if err != nil {
			em.warn(h.Service, h.Replica, "cannot restart the previous replica: "+err.Error())
			continue
		}
		spec := runtime.ReplicaSpec{Instance: old.Identity, Service: svc, Release: release, Index: idx, Replica: h.Replica,
			ProjectDir: old.Dir, Secrets: secrets, SecretEnv: secretEnv}
		if x.snap.obs.Discovery {
			spec.Env = discoveryEnv(svc, x.oldAddrs)
			// The same port keeps the address the other services were
			// given valid.
			if _, port, err := net.SplitHostPort(h.Address); err == nil {
				spec.Env["PORT"] = port
			}
		}
		em.step("start", h.Service, h.Replica, "starting the previous replica again")
		nh, err := x.rt.Start(ctx, spec)
		if err != nil {
			em.warn(h.Service, h.Replica, "cannot restart the previous replica: "+err.Error())
			continue
		}
		nh = completeHandle(nh, x.rt.Name(), old.Identity, svc, h.Replica, release)
		replaced[h.Replica] = nh
		em.stepDone("start", h.Service, h.Replica, nh.Address)
		if err := x.waitReady(ctx, svc, []runtime.Handle{nh}); err != nil {
			em.warn(h.Service, h.Replica, "the previous replica runs again but is not healthy: "+err.Error())
		}
	}
	all := make([]runtime.Handle, 0, len(x.snap.handles))
	for _, h := range x.snap.handles {
		if nh, ok := replaced[h.Replica]; ok {
			h = nh
		}
		all = append(all, h)
	}
	if err := x.e.store.ReplaceHandles(ctx, x.snap.name, all); err != nil {
		em.warn("", "", "cannot record the restarted replicas: "+err.Error())
	}
}
