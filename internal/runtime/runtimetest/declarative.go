package runtimetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// waitApply bounds one Apply, Down or Delete of the applier half: pods
// are scheduled, images unpacked and probes run before a rollout is done.
const waitApply = 3 * time.Minute

// RunApplier runs the Core checks and the applier half of the suite: the
// replica-runner half's subtests, under the same names, on whole instances
// of a runtime.Applier. RestartNoLeavesCrashedExited has no equivalent: see
// the package doc.
func RunApplier(t *testing.T, factory Factory) {
	runCore(t, factory)
	tests := []struct {
		name string
		fn   func(*testing.T, *dsuite)
	}{
		{"StartHealthyServes", dStartHealthy},
		{"StopIsGraceful", dStopGraceful},
		{"StopKillsAfterGrace", dStopKills},
		{"CrashIsRestarted", dCrashRestarted},
		{"Logs", dLogs},
		{"Exec", dExec},
		{"ReattachAfterDaemonRestart", dReattach},
		{"VolumeKeepsDataAcrossReplacement", dVolume},
		{"List", dList},
		{"Remove", dRemove},
		{"UnhealthyIsReported", dUnhealthy},
		{"CommandHealthcheck", dCommandHealthcheck},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tgt := factory(t)
			if _, ok := tgt.Runtime.(runtime.Applier); !ok {
				t.Fatalf("the factory returned a %T, which is not a runtime.Applier", tgt.Runtime)
			}
			// One instance per subtest: a namespace of its own on Kubernetes,
			// so that a subtest never sees another's leftovers.
			id := stack.Identity{Org: stack.DefaultOrg, Project: "conformance", Env: strings.ToLower(tc.name)}
			s := &dsuite{t: t, tgt: tgt, rt: tgt.Runtime, id: id}
			t.Cleanup(s.cleanup)
			tc.fn(t, s)
		})
	}
}

// dsuite is the applier half's state: the instances a subtest applied
// (purged at cleanup, with whichever runtime is current) and the release
// counter.
type dsuite struct {
	t   *testing.T
	tgt Target
	id  stack.Identity

	mu      sync.Mutex
	rt      runtime.Runtime
	applied []stack.Identity
	release int
}

func (s *dsuite) runtime() runtime.Runtime {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rt
}

func (s *dsuite) applier() runtime.Applier {
	a, ok := s.runtime().(runtime.Applier)
	if !ok {
		s.t.Fatalf("%T is not a runtime.Applier", s.runtime())
	}
	return a
}

// cleanup deletes every instance the subtest applied with its volumes. It
// does not wait for them to go: every subtest has instances of its own.
func (s *dsuite) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), waitApply)
	defer cancel()
	s.mu.Lock()
	ids := slices.Clone(s.applied)
	s.mu.Unlock()
	for _, id := range ids {
		if err := s.applier().Delete(ctx, id, true); err != nil {
			s.t.Errorf("cleanup: delete instance %s with its volumes: %v", id, err)
		}
	}
	if err := s.runtime().Close(); err != nil {
		s.t.Errorf("cleanup: close runtime: %v", err)
	}
}

// service describes one service of a test model running the test app.
type service struct {
	name        string
	env         map[string]string
	healthPath  string
	healthcheck *stack.Healthcheck
	mounts      []stack.Mount
	grace       time.Duration
}

// everySecond times a service's HTTP health path checks (the path is the
// test) so that a restarted replica is ready again a second after it
// serves, rather than after Kubernetes' default period of ten seconds.
var everySecond = &stack.Healthcheck{Interval: time.Second, Timeout: 3 * time.Second, Retries: 3}

// dataVolume mounts the volume "data" at /data, where the test app keeps
// what /write stores and how it stopped.
var dataVolume = []stack.Mount{{Type: stack.MountVolume, Source: "data", Target: "/data"}}

// model builds an instance of services running the test app, each
// completed by the target's Prepare.
func (s *dsuite) model(id stack.Identity, svcs ...service) *stack.Model {
	s.t.Helper()
	m := &stack.Model{Identity: id}
	var volumes []string
	for _, sv := range svcs {
		env := map[string]string{"QUAI_TEST_MARKER": "marker-" + sv.name}
		maps.Copy(env, sv.env)
		if len(sv.mounts) > 0 {
			env["DATA_DIR"] = sv.mounts[0].Target
		}
		svc := &stack.Service{
			Name:            sv.name,
			Environment:     env,
			Expose:          []int{8080},
			HealthPath:      sv.healthPath,
			Healthcheck:     sv.healthcheck,
			Mounts:          sv.mounts,
			Replicas:        1,
			StopGracePeriod: sv.grace,
		}
		rs := runtime.ReplicaSpec{
			Instance: id, Service: svc, Release: s.release + 1, Index: 1, Replica: sv.name + "-1",
			Labels: map[string]string{"quai.test": "conformance"},
		}
		s.tgt.Prepare(s.t, &rs)
		svc.Hash = hashService(svc)
		m.Services = append(m.Services, svc)
		for _, mt := range sv.mounts {
			if mt.Type == stack.MountVolume && mt.Source != "" {
				volumes = append(volumes, mt.Source)
			}
		}
	}
	slices.SortFunc(m.Services, func(a, b *stack.Service) int { return strings.Compare(a.Name, b.Name) })
	slices.Sort(volumes)
	for _, v := range slices.Compact(volumes) {
		m.Volumes = append(m.Volumes, stack.Volume{Name: v})
	}
	return m
}

// hashService stands in for the loader's hash: it changes with anything
// the suite changes in a service.
func hashService(svc *stack.Service) string {
	b, err := json.Marshal(svc)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:12]
}

// apply applies m as the next release.
func (s *dsuite) apply(ctx context.Context, m *stack.Model) error {
	s.mu.Lock()
	s.release++
	rel := s.release
	if !slices.Contains(s.applied, m.Identity) {
		s.applied = append(s.applied, m.Identity)
	}
	s.mu.Unlock()
	return s.applier().Apply(ctx, m, runtime.ApplyOptions{Release: rel, Emit: func(msg string) {
		s.t.Logf("%s release %d: %s", m.Identity, rel, msg)
	}})
}

func (s *dsuite) mustApply(m *stack.Model) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitApply)
	defer cancel()
	if err := s.apply(ctx, m); err != nil {
		s.t.Fatalf("apply release %d of %s: %v", s.release, m.Identity, err)
	}
}

// applyInBackground starts applying a model that must never roll out; stop
// cancels it and returns Apply's error.
func (s *dsuite) applyInBackground(m *stack.Model) (stop func() error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitApply)
	done := make(chan error, 1)
	go func() { done <- s.apply(ctx, m) }()
	return func() error {
		cancel()
		return <-done
	}
}

func (s *dsuite) state(id stack.Identity) ([]runtime.ServiceState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.applier().State(ctx, id)
}

func (s *dsuite) mustState(id stack.Identity) []runtime.ServiceState {
	s.t.Helper()
	st, err := s.state(id)
	if err != nil {
		s.t.Fatalf("state of %s: %v", id, err)
	}
	return st
}

func serviceState(states []runtime.ServiceState, name string) (runtime.ServiceState, bool) {
	for _, st := range states {
		if st.Service == name {
			return st, true
		}
	}
	return runtime.ServiceState{}, false
}

// waitReplica waits until the service's only replica satisfies cond, as
// State reports it; replicas of a previous version that are still being
// removed make it wait too.
func (s *dsuite) waitReplica(id stack.Identity, name, what string, cond func(runtime.ServiceState, runtime.ReplicaState) bool) (runtime.ServiceState, runtime.ReplicaState) {
	s.t.Helper()
	var svc runtime.ServiceState
	var rep runtime.ReplicaState
	timeout := waitState
	if strings.Contains(what, "health") {
		timeout = waitHealthy
	}
	until(s.t, fmt.Sprintf("%s/%s %s", id, name, what), timeout, func() (bool, string) {
		states, err := s.state(id)
		if err != nil {
			return false, err.Error()
		}
		var ok bool
		if svc, ok = serviceState(states, name); !ok {
			return false, fmt.Sprintf("no service %s in %+v", name, states)
		}
		if len(svc.Replicas) != 1 {
			return false, fmt.Sprintf("%d replicas: %+v", len(svc.Replicas), svc.Replicas)
		}
		rep = svc.Replicas[0]
		return cond(svc, rep), fmt.Sprintf("%+v", svc)
	})
	return svc, rep
}

func healthy(_ runtime.ServiceState, r runtime.ReplicaState) bool {
	return r.Status.Healthy() && r.Status.Health == runtime.HealthHealthy
}

func (s *dsuite) waitHealthy(id stack.Identity, name string) runtime.ReplicaState {
	s.t.Helper()
	_, rep := s.waitReplica(id, name, "healthy", healthy)
	return rep
}

// waitGone waits until the instance has no replica left.
func (s *dsuite) waitGone(id stack.Identity) {
	s.t.Helper()
	until(s.t, fmt.Sprintf("%s has no replica", id), waitState, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		hs, err := s.runtime().List(ctx, id)
		return err == nil && len(hs) == 0, fmt.Sprintf("%v %v", hs, err)
	})
}

func (s *dsuite) inspect(h runtime.Handle) (runtime.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.runtime().Inspect(ctx, h)
}

func (s *dsuite) down(id stack.Identity) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitApply)
	defer cancel()
	if err := s.applier().Down(ctx, id); err != nil {
		s.t.Fatalf("down %s: %v", id, err)
	}
}

func dStartHealthy(t *testing.T, s *dsuite) {
	m := s.model(s.id, service{name: "web", healthPath: "/healthz"})
	s.mustApply(m)
	// Apply returns once the service rolled out: no waiting here.
	states := s.mustState(s.id)
	if len(states) != 1 {
		t.Fatalf("state = %+v, want the one service web", states)
	}
	svc := states[0]
	if svc.Service != "web" || svc.Desired != 1 || svc.Ready != 1 || svc.Updated != 1 || svc.Release != s.release || len(svc.Replicas) != 1 {
		t.Fatalf("state of web = %+v, want 1/1 ready and updated by release %d", svc, s.release)
	}
	rep := svc.Replicas[0]
	h := rep.Handle
	if h.Service != "web" || h.Instance != s.id || h.ID == "" || h.Replica == "" || h.Address == "" {
		t.Errorf("handle does not describe the replica: %+v", h)
	}
	if h.Hash != m.Services[0].Hash {
		t.Errorf("handle hash %q, want the service's %q", h.Hash, m.Services[0].Hash)
	}
	if h.Runtime != s.runtime().Name() || h.Version != runtime.HandleVersion {
		t.Errorf("handle runtime/version = %q/%d, want %q/%d", h.Runtime, h.Version, s.runtime().Name(), runtime.HandleVersion)
	}
	if st := rep.Status; !st.Healthy() || st.Health != runtime.HealthHealthy || st.State != runtime.StateRunning || st.Started.IsZero() {
		t.Errorf("status = %+v, want running and healthy with a start time", st)
	}
	if st, err := s.inspect(h); err != nil || !st.Healthy() || st.Health != runtime.HealthHealthy {
		t.Errorf("inspect = %+v, %v; want healthy as State says", st, err)
	}
	if body := mustGet(t, h, "/"); !strings.HasPrefix(body, "ok pid=") {
		t.Errorf("GET / = %q, want ok pid=...", body)
	}
	if got := mustGet(t, h, "/env?name=QUAI_TEST_MARKER"); got != "marker-web" {
		t.Errorf("service environment QUAI_TEST_MARKER = %q, want marker-web", got)
	}
}

// stopAndUp brings the instance down, checks that nothing of it serves,
// applies it again and returns what its app recorded about how it stopped.
func (s *dsuite) stopAndUp(m *stack.Model) string {
	s.t.Helper()
	h := s.waitHealthy(s.id, "web").Handle
	s.down(s.id)
	// Down returns once the replicas are gone: no waiting here.
	svc, ok := serviceState(s.mustState(s.id), "web")
	if !ok || svc.Desired != 0 || svc.Ready != 0 || len(svc.Replicas) != 0 {
		s.t.Errorf("state after down = %+v, want web kept with no replica", svc)
	}
	if _, err := get(h, "/"); err == nil {
		s.t.Errorf("the replica still answers at %s after Down", h.Address)
	}
	if st, err := s.inspect(h); !errors.Is(err, runtime.ErrNotFound) {
		s.t.Errorf("inspect after down = %+v, %v; want ErrNotFound", st, err)
	}
	s.mustApply(m)
	up := s.waitHealthy(s.id, "web").Handle
	return mustGet(s.t, up, "/stops")
}

func dStopGraceful(t *testing.T, s *dsuite) {
	m := s.model(s.id, service{name: "web", healthPath: "/healthz", mounts: dataVolume, grace: 10 * time.Second})
	s.mustApply(m)
	// The app records the SIGTERM it got and its clean exit in its volume,
	// which Down keeps (the logs go with the replica).
	if stops := s.stopAndUp(m); stops != StopSigterm+"\n"+StopExited+"\n" {
		t.Errorf("the app recorded %q about its stop, want SIGTERM then a clean exit", stops)
	}
}

func dStopKills(t *testing.T, s *dsuite) {
	m := s.model(s.id, service{
		name: "web", healthPath: "/healthz", mounts: dataVolume, grace: time.Second,
		env: map[string]string{"IGNORE_SIGTERM": "1"},
	})
	s.mustApply(m)
	if stops := s.stopAndUp(m); stops != StopSigterm+"\n" {
		t.Errorf("the app recorded %q about its stop, want SIGTERM and no exit of its own (killed after the grace period)", stops)
	}
}

func dCrashRestarted(t *testing.T, s *dsuite) {
	s.mustApply(s.model(s.id, service{name: "web", healthPath: "/healthz", healthcheck: everySecond}))
	before := s.waitHealthy(s.id, "web")
	h := before.Handle
	pid := mustGet(t, h, "/pid")
	mustGet(t, h, "/crash")
	svc, after := s.waitReplica(s.id, "web", "restarted and healthy", func(svc runtime.ServiceState, r runtime.ReplicaState) bool {
		return r.Status.Restarts > before.Status.Restarts && healthy(svc, r) && svc.Ready == 1
	})
	if after.Handle.ID != h.ID {
		t.Errorf("the crashed replica %s was replaced by %s, want it restarted in place", h.ID, after.Handle.ID)
	}
	if svc.Release != s.release {
		t.Errorf("release after the crash = %d, want %d: a restart is no release", svc.Release, s.release)
	}
	if got := mustGet(t, after.Handle, "/pid"); got == pid {
		t.Errorf("the app is still %s after crashing", pid)
	}
}

func dLogs(t *testing.T, s *dsuite) {
	s.mustApply(s.model(s.id, service{name: "web", healthPath: "/healthz"}))
	h := s.waitHealthy(s.id, "web").Handle
	checkLogs(t, s.runtime(), h)

	il, ok := s.runtime().(runtime.InstanceLogger)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitState)
	defer cancel()
	rc, err := il.InstanceLogs(ctx, s.id, runtime.LogOptions{})
	if err != nil {
		t.Fatalf("instance logs: %v", err)
	}
	defer func() { _ = rc.Close() }()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read instance logs: %v", err)
	}
	for _, want := range []string{h.Replica + " | " + StartedMark, h.Replica + " | second-line"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("instance logs lack %q:\n%s", want, b)
		}
	}
}

func dExec(t *testing.T, s *dsuite) {
	s.mustApply(s.model(s.id, service{name: "web", healthPath: "/healthz"}))
	h := s.waitHealthy(s.id, "web").Handle
	checkExec(t, s.runtime(), h, s.tgt.AppCommand, "marker-web")
}

func dReattach(t *testing.T, s *dsuite) {
	m := s.model(s.id, service{name: "web", healthPath: "/healthz", healthcheck: everySecond})
	s.mustApply(m)
	before := s.waitHealthy(s.id, "web")
	pid := mustGet(t, before.Handle, "/pid")

	// The engine persists the handle as JSON; a restarted daemon reads it back.
	b, err := json.Marshal(before.Handle)
	if err != nil {
		t.Fatal(err)
	}
	var persisted runtime.Handle
	if err := json.Unmarshal(b, &persisted); err != nil {
		t.Fatal(err)
	}
	if err := s.runtime().Close(); err != nil {
		t.Fatalf("close the first runtime: %v", err)
	}
	if got := mustGet(t, persisted, "/pid"); got != pid {
		t.Fatalf("closing the runtime touched the app: %s, want %s", got, pid)
	}
	rt2 := s.tgt.Reopen(t)
	s.mu.Lock()
	s.rt = rt2
	s.mu.Unlock()
	// The cluster watches its pods itself: a new runtime has nothing to
	// re-attach, and sees the same replica, neither restarted nor replaced.
	if st, err := s.inspect(persisted); err != nil || !st.Healthy() {
		t.Fatalf("inspect the persisted handle with a new runtime: %+v, %v; want healthy", st, err)
	}
	_, now := s.waitReplica(s.id, "web", "healthy after reattach", healthy)
	if now.Handle.ID != persisted.ID || !now.Status.Started.Equal(before.Status.Started) || now.Status.Restarts != before.Status.Restarts {
		t.Errorf("after reattach the replica is %s started %s with %d restarts, want %s started %s with %d",
			now.Handle.ID, now.Status.Started, now.Status.Restarts, persisted.ID, before.Status.Started, before.Status.Restarts)
	}
	// Applying the same model again (as a restarted daemon that converges
	// its instances would) changes nothing.
	s.mustApply(m)
	_, again := s.waitReplica(s.id, "web", "healthy after the same model again", healthy)
	if again.Handle.ID != persisted.ID || !again.Status.Started.Equal(before.Status.Started) {
		t.Errorf("applying the same model again replaced the replica: %s started %s, want %s started %s",
			again.Handle.ID, again.Status.Started, persisted.ID, before.Status.Started)
	}
	if got := mustGet(t, persisted, "/pid"); got != pid {
		t.Errorf("after reattach the app is %s, want the same process %s", got, pid)
	}
	// Restarts keep working under the new runtime.
	mustGet(t, persisted, "/crash")
	s.waitReplica(s.id, "web", "restarted and healthy after reattach", func(svc runtime.ServiceState, r runtime.ReplicaState) bool {
		return r.Status.Restarts > before.Status.Restarts && healthy(svc, r)
	})

	bogus := persisted
	bogus.ID += "-gone"
	bogus.Replica += "-gone"
	if _, err := s.inspect(bogus); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("inspect of a replica that never ran: %v, want ErrNotFound", err)
	}
}

func dVolume(t *testing.T, s *dsuite) {
	v1 := s.model(s.id, service{name: "web", healthPath: "/healthz", mounts: dataVolume, env: map[string]string{"VERSION": "1"}})
	s.mustApply(v1)
	first := s.waitHealthy(s.id, "web")
	pid := mustGet(t, first.Handle, "/pid")
	mustGet(t, first.Handle, "/write?value=kept-across-replicas")

	// A changed service needs a new replica, which mounts the same volume.
	v2 := s.model(s.id, service{name: "web", healthPath: "/healthz", mounts: dataVolume, env: map[string]string{"VERSION": "2"}})
	s.mustApply(v2)
	svc, second := s.waitReplica(s.id, "web", "healthy with the new version", func(svc runtime.ServiceState, r runtime.ReplicaState) bool {
		return healthy(svc, r) && r.Handle.Hash == v2.Services[0].Hash
	})
	if svc.Release != s.release || svc.Updated != 1 {
		t.Errorf("state = %+v, want web updated by release %d", svc, s.release)
	}
	if got := mustGet(t, second.Handle, "/pid"); got == pid {
		t.Fatalf("the replica still runs the first version's app %s", pid)
	}
	if got := mustGet(t, second.Handle, "/env?name=VERSION"); got != "2" {
		t.Errorf("the new replica has VERSION=%q, want 2", got)
	}
	if got := mustGet(t, second.Handle, "/read"); got != "kept-across-replicas" {
		t.Errorf("the new replica reads %q from the volume, want kept-across-replicas", got)
	}
	if vm, ok := s.runtime().(runtime.VolumeManager); ok {
		vols, err := vm.Volumes(context.Background(), s.id)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(vols, func(v string) bool { return strings.Contains(v, "data") }) {
			t.Errorf("volumes = %v, want one named after data", vols)
		}
	}
}

func dList(t *testing.T, s *dsuite) {
	other := s.id
	other.Env += "-other"
	s.mustApply(s.model(s.id, service{name: "web"}, service{name: "worker"}))
	s.mustApply(s.model(other, service{name: "web"}))
	var ids []string
	for _, name := range []string{"web", "worker"} {
		_, rep := s.waitReplica(s.id, name, "running", func(_ runtime.ServiceState, r runtime.ReplicaState) bool {
			return r.Status.Healthy()
		})
		ids = append(ids, rep.Handle.ID)
	}
	hs, err := s.runtime().List(context.Background(), s.id)
	if err != nil {
		t.Fatal(err)
	}
	var services, listed []string
	for _, h := range hs {
		services = append(services, h.Service)
		listed = append(listed, h.ID)
		if h.Instance != s.id {
			t.Errorf("List(%s) returned a replica of %s", s.id, h.Instance)
		}
	}
	slices.Sort(services)
	slices.Sort(listed)
	slices.Sort(ids)
	if !slices.Equal(services, []string{"web", "worker"}) || !slices.Equal(listed, ids) {
		t.Errorf("List = %v of %v, want %v of [web worker] as State reports them", listed, services, ids)
	}
	hs, err = s.runtime().List(context.Background(), other)
	if err != nil || len(hs) != 1 || hs[0].Service != "web" || hs[0].Instance != other || slices.Contains(ids, hs[0].ID) {
		t.Errorf("List(%s) = %+v, %v; want its own web only", other, hs, err)
	}
}

func dRemove(t *testing.T, s *dsuite) {
	m := s.model(s.id, service{name: "web", healthPath: "/healthz", mounts: dataVolume})
	s.mustApply(m)
	first := s.waitHealthy(s.id, "web")
	mustGet(t, first.Handle, "/write?value=kept-after-delete")
	h := first.Handle

	// Delete without purge removes the replicas and keeps the data.
	ctx, cancel := context.WithTimeout(context.Background(), waitApply)
	defer cancel()
	if err := s.applier().Delete(ctx, s.id, false); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if st, err := s.state(s.id); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("state after delete = %+v, %v; want ErrNotFound", st, err)
	}
	s.waitGone(s.id)
	if _, err := get(h, "/"); err == nil {
		t.Errorf("a deleted replica still answers at %s", h.Address)
	}
	if _, err := s.inspect(h); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("inspect after delete: %v, want ErrNotFound", err)
	}
	vm, hasVolumes := s.runtime().(runtime.VolumeManager)
	if hasVolumes {
		if vols, err := vm.Volumes(ctx, s.id); err != nil || len(vols) == 0 {
			t.Errorf("volumes after delete without purge = %v, %v; want the data volume kept", vols, err)
		}
	}
	s.mustApply(m)
	again := s.waitHealthy(s.id, "web")
	if got := mustGet(t, again.Handle, "/read"); got != "kept-after-delete" {
		t.Errorf("installed again after delete, the app reads %q, want kept-after-delete", got)
	}

	// Delete with purge removes the data too.
	if err := s.applier().Delete(ctx, s.id, true); err != nil {
		t.Fatalf("delete with purge: %v", err)
	}
	s.waitGone(s.id)
	until(t, "the purged instance is gone", waitApply, func() (bool, string) {
		st, err := s.state(s.id)
		if !errors.Is(err, runtime.ErrNotFound) {
			return false, fmt.Sprintf("state %+v, %v", st, err)
		}
		if !hasVolumes {
			return true, ""
		}
		vols, err := vm.Volumes(ctx, s.id)
		return err == nil && len(vols) == 0, fmt.Sprintf("volumes %v, %v", vols, err)
	})
}

func dUnhealthy(t *testing.T, s *dsuite) {
	stop := s.applyInBackground(s.model(s.id, service{name: "web", healthPath: "/healthz", env: map[string]string{"UNHEALTHY": "1"}}))
	svc, rep := s.waitReplica(s.id, "web", "unhealthy", func(_ runtime.ServiceState, r runtime.ReplicaState) bool {
		return r.Status.Health == runtime.HealthUnhealthy
	})
	if st := rep.Status; st.Healthy() || st.State != runtime.StateRunning {
		t.Errorf("status = %+v, want running and not healthy", st)
	}
	if !strings.Contains(rep.Status.Message, "503") {
		t.Errorf("message %q does not say why the check failed", rep.Status.Message)
	}
	if svc.Ready != 0 {
		t.Errorf("state = %+v, want no ready replica", svc)
	}
	if st, err := s.inspect(rep.Handle); err != nil || st.Health != runtime.HealthUnhealthy {
		t.Errorf("inspect = %+v, %v; want unhealthy as State says", st, err)
	}
	if err := stop(); err == nil {
		t.Error("Apply reported success for a service that never became healthy")
	}
}

func dCommandHealthcheck(t *testing.T, s *dsuite) {
	test := append([]string{"CMD"}, s.tgt.AppCommand...)
	test = append(test, "probe", "/healthz")
	hc := &stack.Healthcheck{Test: test, Interval: time.Second, Timeout: 5 * time.Second, Retries: 2}
	stop := s.applyInBackground(s.model(s.id,
		service{name: "web", healthcheck: hc},
		service{name: "worker", healthcheck: hc, env: map[string]string{"UNHEALTHY": "1"}},
	))
	s.waitHealthy(s.id, "web")
	s.waitReplica(s.id, "worker", "unhealthy by command", func(_ runtime.ServiceState, r runtime.ReplicaState) bool {
		return r.Status.Health == runtime.HealthUnhealthy
	})
	if err := stop(); err == nil {
		t.Error("Apply reported success for a service that never became healthy")
	}
}
