package engine

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/registry"
	"github.com/quai-dev/quai/internal/registry/registrytest"
	"github.com/quai-dev/quai/internal/runtime/docker"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
)

// registryHarness is a docker harness whose stack pushes to a real
// registry; the engine (which pushes) and the runtime (which pulls) find
// the credentials through DOCKER_CONFIG, as a daemon does. Each test has a
// registry and a Docker config of its own, so a runtime that kept the
// first DOCKER_CONFIG of the process would pull with stale credentials.
func registryHarness(t *testing.T) (*dockerHarness, *registrytest.Registry) {
	t.Helper()
	reg := registrytest.Start(t, registrytest.Options{})
	t.Setenv("DOCKER_CONFIG", reg.DockerConfig)
	return newDockerHarness(t), reg
}

// registryModel is h.model(version) pushing to reg; its service's image
// is tagged tag locally, which is the stack's tag pushed with the release's.
func registryModel(h *dockerHarness, reg *registrytest.Registry, version, tag string) *stack.Model {
	m := h.model(version)
	m.Registry = &stack.Registry{URL: reg.Host + "/team"}
	svc := *m.Services[0]
	svc.Image = "quai-enginetest-" + h.id.Env + ":" + tag
	m.Services[0] = &svc
	h.tags = append(h.tags, svc.Image)
	return m
}

// configImage is the reference the app container was created from.
func (h *dockerHarness) configImage() string {
	h.t.Helper()
	hs, err := h.st.Handles(context.Background(), h.id.Name())
	if err != nil || len(hs) != 1 {
		h.t.Fatalf("handles %v %v: want one replica", hs, err)
	}
	d, err := docker.DecodeHandleData(hs[0])
	if err != nil {
		h.t.Fatal(err)
	}
	ins, err := h.cli.ContainerInspect(context.Background(), d.Container, client.ContainerInspectOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	return ins.Container.Config.Image
}

// TestRegistryPushPinsDigest: with x-quai.registry, up pushes the built
// image as <url>/<project>-<service>:release-N and :<stack tag>, the
// release pins repo@sha256:digest (the registry's own digest), the replica
// runs that reference, and a rollback after the image left the engine
// pulls it back by digest from the registry.
func TestRegistryPushPinsDigest(t *testing.T) {
	h, reg := registryHarness(t)
	ctx := context.Background()
	repo := registry.Repository(reg.Host+"/team", h.id.Project, "app")
	path := strings.TrimPrefix(repo, reg.Host+"/")

	var ev events
	rel1, err := h.eng.Up(ctx, UpRequest{Model: registryModel(h, reg, "1", "v1")}, ev.emit)
	if err != nil {
		t.Fatalf("up 1: %v\n%v", err, ev.list)
	}
	pin1 := rel1.Images["app"]
	r, digest, ok := registry.SplitPinned(pin1)
	if !ok || r != repo {
		t.Fatalf("release 1 pins %q: want %s@sha256:...", pin1, repo)
	}
	h.tags = append(h.tags, pin1, repo+":"+ReleaseTag(rel1.Number), repo+":v1")
	for _, tag := range []string{ReleaseTag(rel1.Number), "v1"} {
		got, err := reg.ManifestDigest(ctx, path, tag)
		if err != nil || got != digest {
			t.Errorf("the registry has %s:%s at %q (%v); the release pins %s", path, tag, got, err, digest)
		}
	}
	if got := h.configImage(); got != pin1 {
		t.Errorf("the replica was created from %q: want the pinned %s", got, pin1)
	}
	stored, err := h.st.Release(ctx, h.id.Name(), rel1.Number)
	if err != nil || stored.Images["app"] != pin1 {
		t.Errorf("stored release 1 images %v (%v): want %s", stored.Images, err, pin1)
	}
	var pushed, layers bool
	for _, e := range ev.list {
		if e.Step != "push" || e.Service != "app" {
			continue
		}
		pushed = pushed || (e.Kind == EventStepDone && e.Message == pin1)
		layers = layers || (e.Kind == EventProgress && strings.Contains(e.Message, ": Pushed"))
	}
	if !pushed || !layers {
		t.Errorf("push step done with %s: %v, layer progress: %v; events %v", pin1, pushed, layers, ev.list)
	}

	rel2, err := h.eng.Up(ctx, UpRequest{Model: registryModel(h, reg, "2", "v2")}, nil)
	if err != nil {
		t.Fatalf("up 2: %v", err)
	}
	pin2 := rel2.Images["app"]
	h.tags = append(h.tags, pin2, repo+":"+ReleaseTag(rel2.Number), repo+":v2")
	if !registry.IsPinned(pin2) || pin2 == pin1 {
		t.Fatalf("release 2 pins %q, release 1 %q: want another digest", pin2, pin1)
	}

	// Release 1's image leaves the engine: the rollback pulls it by digest.
	ins, err := h.cli.ImageInspect(ctx, pin1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.cli.ImageRemove(ctx, ins.ID, client.ImageRemoveOptions{Force: true}); err != nil {
		t.Fatalf("remove release 1's image: %v", err)
	}
	var evr events
	rel3, err := h.eng.Rollback(ctx, h.id.Name(), rel1.Number, evr.emit)
	if err != nil {
		t.Fatalf("rollback: %v\n%v", err, evr.list)
	}
	if rel3.Images["app"] != pin1 || h.configImage() != pin1 || h.running() != ins.ID {
		t.Errorf("rollback pins %v and runs %s (%s): want %s (%s)", rel3.Images, h.configImage(), h.running(), pin1, ins.ID)
	}
	for _, e := range evr.list {
		if e.Step == "push" {
			t.Errorf("the rollback pushed: %+v", e)
		}
	}
}

// TestRegistryWrongPassword: a push the registry refuses fails the up
// before anything changes, with an error naming the registry and the
// Docker config file, and the active release keeps serving.
func TestRegistryWrongPassword(t *testing.T) {
	h, reg := registryHarness(t)
	ctx := context.Background()
	rel1, err := h.eng.Up(ctx, UpRequest{Model: registryModel(h, reg, "1", "v1")}, nil)
	if err != nil {
		t.Fatalf("up 1: %v", err)
	}
	h.tags = append(h.tags, rel1.Images["app"])
	running := h.running()

	bad := t.TempDir()
	wrong := reg.Password + "-wrong"
	if err := reg.WriteDockerConfig(bad, reg.User, wrong); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", bad)
	var ev events
	_, err = h.eng.Up(ctx, UpRequest{Model: registryModel(h, reg, "2", "v2")}, ev.emit)
	if err == nil {
		t.Fatal("up with a wrong registry password succeeded")
	}
	t.Logf("refused: %v", err)
	for _, want := range []string{reg.Host, filepath.Join(bad, "config.json"), "docker login"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("error %q holds the password", err)
	}
	for _, e := range ev.list {
		if strings.Contains(e.Message+e.Error, wrong) {
			t.Errorf("event %+v holds the password", e)
		}
	}
	rels, err := h.st.Releases(ctx, h.id.Name())
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) != 1 || rels[0].Number != rel1.Number || rels[0].Status != store.StatusActive {
		t.Errorf("releases after the refused push: %+v; want release %d alone and active", rels, rel1.Number)
	}
	if got := h.running(); got != running {
		t.Errorf("the replica runs %s after the refused push: want %s still", got, running)
	}
}

// TestRegistryPulledImageDigest: an image pulled from a registry is pinned
// by the digest it was pulled by, and not pushed again.
func TestRegistryPulledImageDigest(t *testing.T) {
	h, reg := registryHarness(t)
	ctx := context.Background()
	h.model("base")
	b, err := h.rt.BuildImage(ctx, docker.BuildSpec{Service: "app", Context: h.dir, Repository: reg.Repo("base/app")})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := registry.Lookup(reg.DockerConfig, reg.Host)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := h.rt.PushImage(ctx, b.ID, []string{b.Ref}, auth, nil)
	if err != nil {
		t.Fatalf("push %s: %v", b.Ref, err)
	}
	// The deploy has to pull it.
	if _, err := h.cli.ImageRemove(ctx, b.ID, client.ImageRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	m := h.model("base")
	m.Registry = &stack.Registry{URL: reg.Host + "/team"}
	svc := *m.Services[0]
	svc.Image, svc.Build = b.Ref, nil
	svc.Hash = serviceHash(&svc)
	m.Services[0] = &svc
	var ev events
	rel, err := h.eng.Up(ctx, UpRequest{Model: m}, ev.emit)
	if err != nil {
		t.Fatalf("up: %v\n%v", err, ev.list)
	}
	want := registry.Pinned(reg.Repo("base/app"), digest)
	h.tags = append(h.tags, want, b.Ref)
	if rel.Images["app"] != want {
		t.Errorf("release pins %q: want the pulled digest %s", rel.Images["app"], want)
	}
	var pulled bool
	for _, e := range ev.list {
		if e.Step == "push" {
			t.Errorf("a pulled image was pushed: %+v", e)
		}
		pulled = pulled || (e.Step == "image" && strings.Contains(e.Message, "pulling"))
	}
	if !pulled {
		t.Errorf("no pull among the events: %v", ev.list)
	}
}

// TestRegistryAddedToRunningInstance: adding x-quai.registry to a running
// instance publishes the images of the services it keeps, so the new
// release pins registry references only, and restarts nothing.
func TestRegistryAddedToRunningInstance(t *testing.T) {
	h, reg := registryHarness(t)
	ctx := context.Background()
	m1 := registryModel(h, reg, "1", "v1")
	m1.Registry = nil
	rel1, err := h.eng.Up(ctx, UpRequest{Model: m1}, nil)
	if err != nil {
		t.Fatalf("up without a registry: %v", err)
	}
	if id := rel1.Images["app"]; registry.IsPinned(id) {
		t.Fatalf("release 1 pins %s without a registry: want the engine's id", id)
	}
	before, err := h.st.Handles(ctx, h.id.Name())
	if err != nil {
		t.Fatal(err)
	}
	rel2, err := h.eng.Up(ctx, UpRequest{Model: registryModel(h, reg, "1", "v1")}, nil)
	if err != nil {
		t.Fatalf("up with a registry: %v", err)
	}
	pin := rel2.Images["app"]
	h.tags = append(h.tags, pin)
	repo, digest, ok := registry.SplitPinned(pin)
	if !ok || rel2.Number == rel1.Number {
		t.Fatalf("release %d pins %q: want a new release pinning a registry reference", rel2.Number, pin)
	}
	h.tags = append(h.tags, repo+":"+ReleaseTag(rel2.Number), repo+":v1")
	if got, err := reg.ManifestDigest(ctx, strings.TrimPrefix(repo, reg.Host+"/"), ReleaseTag(rel2.Number)); err != nil || got != digest {
		t.Errorf("the registry has %q (%v), the release pins %s", got, err, digest)
	}
	after, err := h.st.Handles(ctx, h.id.Name())
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 1 || len(before) != 1 || after[0].Replica != before[0].Replica {
		t.Errorf("replicas %v became %v: adding a registry restarts nothing", before, after)
	}
}
