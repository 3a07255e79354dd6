package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
	"github.com/quai-dev/quai/internal/wire"
)

// declarative is a stand-in for a declarative runtime (the Kubernetes
// runtime is proven on a real cluster by its own tests and test/e2e/kube):
// it records what the engine asks and "runs" the last applied model, so the
// engine's orchestration — releases, undo after a failed rollout, down,
// remove, status — is tested as pure logic.
type declarative struct {
	mu       sync.Mutex
	calls    []string
	running  *stack.Model // nil: nothing applied, or deleted
	down     bool
	failNext error
	volumes  []string
	// health is every replica's health; empty means healthy.
	health runtime.Health
	// unreachable makes State fail as a cluster that cannot be reached.
	unreachable bool
	// secrets are the secret values of the last Apply.
	secrets map[string][]byte
}

func (d *declarative) record(format string, args ...any) {
	d.calls = append(d.calls, fmt.Sprintf(format, args...))
}

func (d *declarative) Name() string { return "decl" }
func (d *declarative) Capabilities() runtime.Capabilities {
	return runtime.Capabilities{Isolation: true, Volumes: true}
}
func (d *declarative) Inspect(context.Context, runtime.Handle) (runtime.Status, error) {
	return runtime.Status{}, runtime.ErrNotFound
}
func (d *declarative) Close() error { return nil }

func (d *declarative) List(_ context.Context, id stack.Identity) ([]runtime.Handle, error) {
	states, err := d.State(context.Background(), id)
	var out []runtime.Handle
	for _, s := range states {
		for _, r := range s.Replicas {
			out = append(out, r.Handle)
		}
	}
	return out, err
}

func (d *declarative) Apply(_ context.Context, m *stack.Model, opts runtime.ApplyOptions) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.record("apply %d %s", opts.Release, m.Service("web").Environment["VERSION"])
	d.secrets = opts.Secrets
	if opts.Emit != nil {
		opts.Emit("web: 1/1 ready")
	}
	if err := d.failNext; err != nil {
		d.failNext = nil
		return err
	}
	d.running, d.down = m, false
	return nil
}

func (d *declarative) State(_ context.Context, id stack.Identity) ([]runtime.ServiceState, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.unreachable {
		return nil, fmt.Errorf("cluster: %w", runtime.ErrUnavailable)
	}
	if d.running == nil {
		return nil, runtime.ErrNotFound
	}
	var out []runtime.ServiceState
	for _, s := range d.running.Services {
		st := runtime.ServiceState{Service: s.Name, Desired: s.Replicas}
		if !d.down {
			for i := range s.Replicas {
				name := fmt.Sprintf("%s-%s-%d", s.Name, s.Hash[:4], i)
				st.Replicas = append(st.Replicas, runtime.ReplicaState{Node: "node-1",
					Handle: runtime.Handle{Runtime: "decl", Instance: id, Service: s.Name, Replica: name, Hash: s.Hash},
					Status: runtime.Status{State: runtime.StateRunning, Health: cmp.Or(d.health, runtime.HealthHealthy)}})
			}
			if d.health == "" {
				st.Ready = s.Replicas
			}
		}
		out = append(out, st)
	}
	return out, nil
}

func (d *declarative) Down(context.Context, stack.Identity) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.record("down")
	d.down = true
	return nil
}

func (d *declarative) Delete(_ context.Context, _ stack.Identity, purge bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.record("delete purge=%t", purge)
	d.running = nil
	if purge {
		d.volumes = nil
	}
	return nil
}

func (d *declarative) Volumes(context.Context, stack.Identity) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.volumes), nil
}

func (d *declarative) RemoveVolumes(context.Context, stack.Identity) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.record("remove volumes")
	d.volumes = nil
	return nil
}

func (d *declarative) Restart(_ context.Context, _ *stack.Model, services []string, _ func(string)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.record("restart %v", services)
	return nil
}

func (d *declarative) takeCalls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.calls
	d.calls = nil
	return c
}

func declModel(version string) *stack.Model {
	m := &stack.Model{
		Identity: appID,
		Services: []*stack.Service{
			{Name: "db", Replicas: 1, Image: "postgres:16"},
			{Name: "web", Replicas: 2, Image: "web:" + version, Environment: map[string]string{"VERSION": version}},
		},
		Routes: []stack.Route{{Host: appHost, Path: "/", Service: "web", Port: 8080, TLS: stack.TLSOff}},
	}
	for _, s := range m.Services {
		s.Hash = serviceHash(s)
	}
	return m
}

func TestDeclarativeRuntime(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "quai.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	d := &declarative{volumes: []string{"db-data"}}
	eng, err := New(Options{Store: st, Runtimes: map[string]runtime.Runtime{"decl": d}, HTTPPort: 8080})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	name := appID.Name()

	up := func(version string, want EventKind) (Release, *events, error) {
		t.Helper()
		var ev events
		rel, err := eng.Up(ctx, UpRequest{Model: declModel(version)}, ev.emit)
		ev.checkTerminal(t, want)
		return rel, &ev, err
	}

	// An unreachable cluster fails a new instance before anything is
	// recorded: no instance, no release to clean up.
	d.unreachable = true
	if _, _, err := up("v1", ""); !errors.Is(err, runtime.ErrUnavailable) {
		t.Fatalf("up with an unreachable cluster: %v, want ErrUnavailable", err)
	}
	if list, err := eng.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("instances after a refused first up: %v %v, want none", list, err)
	}
	if c := d.takeCalls(); len(c) != 0 {
		t.Fatalf("a refused first up called %v", c)
	}
	d.unreachable = false

	rel, ev, err := up("v1", EventDone)
	if err != nil || rel.Number != 1 || rel.Status != ReleaseActive {
		t.Fatalf("first up: release %+v, %v", rel, err)
	}
	if c := d.takeCalls(); !slices.Equal(c, []string{"apply 1 v1"}) {
		t.Fatalf("first up called %v, want one apply of release 1", c)
	}
	if !slices.ContainsFunc(ev.list, func(e Event) bool { return e.Kind == EventProgress && e.Message == "web: 1/1 ready" }) {
		t.Errorf("the runtime's progress is not reported as events: %v", ev.kinds())
	}

	// Status comes from the runtime's state; URLs are the ingress's, on
	// the scheme's own port, not quai's proxy port.
	status, err := eng.Status(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if status.State != InstanceRunning || len(status.Services) != 2 || status.Services[1].Ready != 2 ||
		status.Services[1].Replicas[0].Node != "node-1" {
		t.Errorf("status = %+v, want running with web 2/2 on node-1", status)
	}
	if !slices.Equal(status.URLs, []string{"http://" + appHost + "/"}) {
		t.Errorf("urls = %v, want the route on port 80", status.URLs)
	}

	// Replicas not checked yet make the instance starting, not failed;
	// unhealthy ones make it failed.
	for health, want := range map[runtime.Health]InstanceState{runtime.HealthStarting: InstanceStarting, runtime.HealthUnhealthy: InstanceFailed} {
		d.mu.Lock()
		d.health = health
		d.mu.Unlock()
		if status, err = eng.Status(ctx, name); err != nil || status.State != want {
			t.Errorf("with %s replicas the instance is %s (%v), want %s", health, status.State, err, want)
		}
	}
	d.mu.Lock()
	d.health = ""
	d.mu.Unlock()

	// Nothing changed: no apply, same release.
	if rel, _, err = up("v1", EventDone); err != nil || rel.Number != 1 {
		t.Fatalf("unchanged up: %+v, %v", rel, err)
	}
	if c := d.takeCalls(); len(c) != 0 {
		t.Errorf("an unchanged up called %v", c)
	}

	// A failed rollout marks the release failed and re-applies the active one.
	d.failNext = fmt.Errorf("web: pod web-x: ErrImagePull: %w", runtime.ErrRolloutFailed)
	_, _, err = up("v2", EventFailed)
	if !errors.Is(err, ErrUnhealthy) || !errors.Is(err, runtime.ErrRolloutFailed) || !strings.Contains(err.Error(), "release 1 keeps serving") {
		t.Fatalf("failed rollout: %v", err)
	}
	if c := d.takeCalls(); !slices.Equal(c, []string{"apply 2 v2", "apply 1 v1"}) {
		t.Errorf("failed rollout called %v, want the new release then the active one again", c)
	}
	rels, err := eng.Releases(ctx, name)
	if err != nil || len(rels) != 2 || rels[0].Status != ReleaseFailed || rels[1].Status != ReleaseActive {
		t.Fatalf("releases after a failed rollout: %+v, %v", rels, err)
	}

	if rel, _, err = up("v3", EventDone); err != nil || rel.Number != 3 {
		t.Fatalf("up v3: %+v, %v", rel, err)
	}
	d.takeCalls()

	// Rollback re-applies release 1's model as a new release.
	var rb events
	rel, err = eng.Rollback(ctx, name, 1, rb.emit)
	if err != nil || rel.Number != 4 || rel.Cause != "rollback to 1" {
		t.Fatalf("rollback: %+v, %v", rel, err)
	}
	if c := d.takeCalls(); !slices.Equal(c, []string{"apply 4 v1"}) {
		t.Errorf("rollback called %v", c)
	}

	if err := eng.Restart(ctx, name, "web", nil); err != nil {
		t.Fatal(err)
	}
	if c := d.takeCalls(); !slices.Equal(c, []string{"restart [web]"}) {
		t.Errorf("restart called %v", c)
	}

	// Down scales to zero; start applies the active release again, with
	// no new release.
	if err := eng.Down(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	if status, err = eng.Status(ctx, name); err != nil || status.State != InstanceStopped || len(status.URLs) != 0 {
		t.Errorf("status after down: %+v, %v", status, err)
	}
	if rel, err = eng.Start(ctx, name, nil); err != nil || rel.Number != 4 {
		t.Fatalf("start after down: %+v, %v", rel, err)
	}
	if c := d.takeCalls(); !slices.Equal(c, []string{"down", "apply 4 v1"}) {
		t.Errorf("down then start called %v", c)
	}
	if status, err = eng.Status(ctx, name); err != nil || status.State != InstanceRunning || status.Release != 4 {
		t.Errorf("status after start: %+v, %v", status, err)
	}
	// So does an up of the unchanged stack.
	if err := eng.Down(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	if rel, _, err = up("v1", EventDone); err != nil || rel.Number != 4 {
		t.Fatalf("up after down: %+v, %v", rel, err)
	}
	if c := d.takeCalls(); !slices.Equal(c, []string{"down", "apply 4 v1"}) {
		t.Errorf("down then up called %v", c)
	}

	// A release that fails on an instance that was down leaves it down.
	if err := eng.Down(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	d.failNext = fmt.Errorf("web: %w", runtime.ErrRolloutFailed)
	if _, _, err = up("v4", EventFailed); !errors.Is(err, runtime.ErrRolloutFailed) {
		t.Fatalf("failed up of a down instance: %v", err)
	}
	if c := d.takeCalls(); !slices.Equal(c, []string{"down", "apply 5 v4", "down"}) {
		t.Errorf("a failed up of a down instance called %v, want it scaled to zero again", c)
	}
	if rel, _, err = up("v1", EventDone); err != nil || rel.Number != 4 {
		t.Fatalf("up after the failed one: %+v, %v", rel, err)
	}
	d.takeCalls()

	// Logs and exec find the runtime's replicas, not the store's handles.
	if _, hs, err := eng.replicasOf(ctx, name, "web"); err != nil || len(hs) != 2 {
		t.Errorf("replicas of web: %v, %v", hs, err)
	}

	// Remove keeps the volumes and says so.
	var rm events
	if err := eng.Remove(ctx, name, false, rm.emit); err != nil {
		t.Fatal(err)
	}
	if c := d.takeCalls(); !slices.Equal(c, []string{"delete purge=false"}) {
		t.Errorf("remove called %v", c)
	}
	last := rm.list[len(rm.list)-1]
	if !strings.Contains(last.Message, "volumes kept: db-data") {
		t.Errorf("remove said %q, want the kept volumes named", last.Message)
	}
	if _, err := eng.Status(ctx, name); !errors.Is(err, ErrNotFound) {
		t.Errorf("status after remove: %v, want not found", err)
	}

	// The kept volumes stay listed and a purge of the removed instance
	// deletes them.
	vl, err := eng.Volumes(ctx, "")
	if err != nil || len(vl.Volumes) != 1 || vl.Volumes[0].Name != "db-data" || vl.Volumes[0].State != wire.VolumeKept {
		t.Fatalf("volumes after remove: %+v, %v; want db-data kept", vl, err)
	}
	if err := eng.Remove(ctx, name, false, nil); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "rm --purge") {
		t.Errorf("remove of a removed instance: %v, want not found pointing at rm --purge", err)
	}
	var purge events
	if err := eng.Remove(ctx, name, true, purge.emit); err != nil {
		t.Fatalf("purge of the removed instance: %v", err)
	}
	purge.checkTerminal(t, EventDone)
	if c := d.takeCalls(); !slices.Equal(c, []string{"remove volumes"}) {
		t.Errorf("purge of the removed instance called %v", c)
	}
	if vl, err = eng.Volumes(ctx, ""); err != nil || len(vl.Volumes) != 0 {
		t.Errorf("volumes after the purge: %+v, %v; want none", vl, err)
	}
	if err := eng.Remove(ctx, name, true, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("purge of nothing left: %v, want not found", err)
	}
}

// TestDeclarativeSealedSecrets: a declarative runtime receives the values
// of sealed secrets the engine resolved (a generated one here), the same
// value at every release, and never in the model.
func TestDeclarativeSealedSecrets(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "quai.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	d := &declarative{}
	eng, err := New(Options{Store: st, Runtimes: map[string]runtime.Runtime{"decl": d}, HTTPPort: 8080})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	sealed := func(version string) *stack.Model {
		m := declModel(version)
		m.Secrets = []stack.Secret{{Name: "db_password", External: true, Generate: &stack.Generate{Kind: stack.GenerateHex32}}}
		m.Service("db").SecretEnv = map[string]string{"POSTGRES_PASSWORD": "db_password"}
		return m
	}
	var values []string
	for _, v := range []string{"1", "2"} {
		rel, err := eng.Up(ctx, UpRequest{Model: sealed(v)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		d.mu.Lock()
		got := string(d.secrets["db_password"])
		d.mu.Unlock()
		if len(got) != 64 {
			t.Fatalf("release %d: the runtime got a db_password of %d bytes, want the generated 64 hex digits", rel.Number, len(got))
		}
		if b, _ := json.Marshal(rel.Model); strings.Contains(string(b), got) {
			t.Fatalf("release %d's model holds the value", rel.Number)
		}
		values = append(values, got)
	}
	if values[0] != values[1] {
		t.Error("the generated value changed between releases")
	}
}
