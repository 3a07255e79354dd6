package engine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/docker"
	"github.com/quai-dev/quai/internal/runtime/docker/dockertest"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
)

func TestPinModel(t *testing.T) {
	id := "sha256:" + strings.Repeat("ab", 32)
	m := &stack.Model{Identity: appID, Services: []*stack.Service{
		{Name: "api", Image: "example/api:1", Build: &stack.Build{Context: "."}, Hash: "h1"},
		{Name: "db", Image: "postgres:15", Hash: "h2"},
		{Name: "web", Image: "example/web:1", Hash: "h3"},
	}}
	got := pinModel(m, map[string]string{"api": id, "db": "postgres:15", "gone": id})
	if api := got.Service("api"); api.Image != id || api.Build != nil || api.Hash != "h1" {
		t.Errorf("api not pinned to the id: %+v", api)
	}
	if got.Service("db") != m.Service("db") || got.Service("web") != m.Service("web") {
		t.Error("services without an id must be left as they are")
	}
	if a := m.Service("api"); a.Image != "example/api:1" || a.Build == nil {
		t.Errorf("pinModel changed the model it was given: %+v", a)
	}
	for _, ref := range []string{"postgres:15", "sha256:abc", "", "example@" + id, "sha256:" + strings.ToUpper(id[7:]), id[:70] + "zz"} {
		if runtime.IsImageID(ref) {
			t.Errorf("IsImageID(%q) = true", ref)
		}
	}
	if !runtime.IsImageID(id) {
		t.Errorf("IsImageID(%q) = false", id)
	}
}

// dockerHarness is an engine over a real Docker Engine, without a proxy.
type dockerHarness struct {
	t    *testing.T
	rt   *docker.Runtime
	cli  *client.Client
	eng  *Engine
	st   *store.SQLite
	dir  string
	id   stack.Identity
	app  string // the static test app binary
	tags []string
}

// newDockerHarness starts the harness; configure, when given, adjusts the
// runtime's and the engine's options before they are built.
func newDockerHarness(t *testing.T, configure ...func(*docker.Options, *Options)) *dockerHarness {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a Docker Engine")
	}
	cli := dockertest.Engine(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dopts := docker.Options{StateDir: t.TempDir(), Logger: quiet, HealthInterval: 100 * time.Millisecond}
	eopts := Options{HealthTimeout: time.Minute, StopGrace: 5 * time.Second, PollInterval: 50 * time.Millisecond}
	for _, fn := range configure {
		fn(&dopts, &eopts)
	}
	rt, err := docker.New(ctx, dopts)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "quai.db"))
	if err != nil {
		t.Fatal(err)
	}
	eopts.Store, eopts.Runtimes = st, map[string]runtime.Runtime{rt.Name(): rt}
	eng, err := New(eopts)
	if err != nil {
		t.Fatal(err)
	}
	h := &dockerHarness{t: t, rt: rt, cli: cli, eng: eng, st: st, dir: t.TempDir(),
		id: stack.Identity{Org: "enginetest", Project: "pin", Env: "t" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))[len("test"):]}}
	h.app = filepath.Join(h.dir, "app")
	dockertest.GoBuildStatic(t, "../runtime/runtimetest", "./testapp", h.app)
	t.Cleanup(h.cleanup)
	return h
}

func (h *dockerHarness) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_ = h.eng.Remove(ctx, h.id.Name(), true, nil)
	_ = h.eng.Close()
	if hs, err := h.rt.List(ctx, h.id); err == nil {
		for _, hd := range hs {
			_ = h.rt.Stop(ctx, hd, time.Second)
			_ = h.rt.Remove(ctx, hd)
		}
	}
	_ = h.rt.RemoveVolumes(ctx, h.id)
	for _, tag := range h.tags {
		_, _ = h.cli.ImageRemove(ctx, tag, client.ImageRemoveOptions{PruneChildren: true})
	}
	_ = h.rt.Close()
	_ = h.st.Close()
}

// model writes a build context whose content is version and returns a
// one-service stack built from it.
func (h *dockerHarness) model(version string) *stack.Model {
	h.t.Helper()
	files := map[string]string{
		"Dockerfile":    "FROM scratch\nCOPY app /app\nCOPY version /version\nENTRYPOINT [\"/app\"]\n",
		"version":       version + "\n",
		".dockerignore": "compose.yaml\n",
		"compose.yaml":  "services:\n  app:\n    build: .\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(h.dir, name), []byte(body), 0o644); err != nil {
			h.t.Fatal(err)
		}
	}
	svc := &stack.Service{Name: "app", Build: &stack.Build{Context: h.dir, Dockerfile: "Dockerfile"},
		Environment: map[string]string{"VERSION": version}, Expose: []int{8080}, Replicas: 1}
	svc.Hash = serviceHash(svc)
	return &stack.Model{Identity: h.id, Dir: h.dir, Files: []string{"compose.yaml"}, Services: []*stack.Service{svc}}
}

// running returns the image id the instance's app container runs.
func (h *dockerHarness) running() string {
	h.t.Helper()
	ctx := context.Background()
	hs, err := h.st.Handles(ctx, h.id.Name())
	if err != nil || len(hs) != 1 {
		h.t.Fatalf("handles %v %v: want one replica", hs, err)
	}
	d, err := docker.DecodeHandleData(hs[0])
	if err != nil {
		h.t.Fatal(err)
	}
	ins, err := h.cli.ContainerInspect(ctx, d.Container, client.ContainerInspectOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	return ins.Container.Image
}

// TestReleasesPinImages deploys a service built from source twice, rolls
// back, and checks that each release records the image id it ran, that the
// rollback started the first image again without building, that a moved
// tag does not change what a restart runs, and what prune would take.
func TestReleasesPinImages(t *testing.T) {
	h := newDockerHarness(t)
	ctx := context.Background()

	var ev1 events
	rel1, err := h.eng.Up(ctx, UpRequest{Model: h.model("1")}, ev1.emit)
	if err != nil {
		t.Fatalf("up 1: %v\n%v", err, ev1.list)
	}
	pin1 := rel1.Images["app"]
	if !runtime.IsImageID(pin1) {
		t.Fatalf("release 1 images %v: want the image id", rel1.Images)
	}
	if got := h.running(); got != pin1 {
		t.Errorf("the replica runs %s, the release pins %s", got, pin1)
	}
	var built bool
	for _, e := range ev1.list {
		if e.Kind == EventProgress && e.Step == "image" && e.Service == "app" && strings.Contains(e.Message, "building") {
			built = true
		}
	}
	if !built {
		t.Errorf("no build progress among the events: %v", ev1.list)
	}
	stored, err := h.st.Release(ctx, h.id.Name(), rel1.Number)
	if err != nil || stored.Images["app"] != pin1 {
		t.Errorf("stored release 1 images %v (%v): want %s", stored.Images, err, pin1)
	}

	rel2, err := h.eng.Up(ctx, UpRequest{Model: h.model("2")}, nil)
	if err != nil {
		t.Fatalf("up 2: %v", err)
	}
	pin2 := rel2.Images["app"]
	if !runtime.IsImageID(pin2) || pin2 == pin1 {
		t.Fatalf("release 2 pins %q, release 1 %q: want a new id", pin2, pin1)
	}

	var evr events
	rel3, err := h.eng.Rollback(ctx, h.id.Name(), rel1.Number, evr.emit)
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if rel3.Images["app"] != pin1 || h.running() != pin1 {
		t.Errorf("rollback release pins %v and runs %s: want %s", rel3.Images, h.running(), pin1)
	}
	for _, e := range evr.list {
		if e.Step == "image" && (strings.Contains(e.Message, "building") || strings.Contains(e.Message, "pulling")) {
			t.Errorf("rollback built or pulled: %+v", e)
		}
	}

	// The stack's source moves on (a tag the build would now give another
	// image): a restart still runs the release's image.
	h.model("3")
	if err := h.eng.Restart(ctx, h.id.Name(), "", nil); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if got := h.running(); got != pin1 {
		t.Errorf("after a restart the replica runs %s: want the pinned %s", got, pin1)
	}

	rep, err := h.eng.Prune(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range rep.Images {
		if im.ID == pin1 || im.ID == pin2 {
			t.Errorf("prune would remove %s, which a kept release references", im.ID)
		}
	}
	if !rep.DryRun || rep.Kept < 2 {
		t.Errorf("report %+v: want a dry run keeping both releases' images", rep)
	}
	ins, err := h.cli.ImageInspect(ctx, pin2)
	if err != nil {
		t.Fatal(err)
	}
	h.tags = append(h.tags, ins.RepoTags...)
	if ins1, err := h.cli.ImageInspect(ctx, pin1); err == nil {
		h.tags = append(h.tags, ins1.RepoTags...)
	}

	// Once the instance is gone its images are free: a dry run lists them.
	if err := h.eng.Remove(ctx, h.id.Name(), true, nil); err != nil {
		t.Fatal(err)
	}
	rep, err = h.eng.Prune(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, im := range rep.Images {
		ids = append(ids, im.ID)
		if im.Runtime != docker.Name {
			t.Errorf("pruned image %+v: want the docker runtime named", im)
		}
	}
	if !slices.Contains(ids, pin1) || !slices.Contains(ids, pin2) || rep.Bytes <= 0 {
		t.Errorf("dry run after remove lists %v (%d bytes): want %s and %s", ids, rep.Bytes, pin1, pin2)
	}
	if _, err := h.cli.ImageInspect(ctx, pin1); err != nil {
		t.Errorf("a dry run removed %s: %v", pin1, err)
	}
}

// TestRollbackRefusesAMissingImage: a release whose image left the engine
// is not rebuilt by a rollback; the error says what happened.
func TestRollbackRefusesAMissingImage(t *testing.T) {
	h := newDockerHarness(t)
	ctx := context.Background()
	rel1, err := h.eng.Up(ctx, UpRequest{Model: h.model("a")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.eng.Up(ctx, UpRequest{Model: h.model("b")}, nil); err != nil {
		t.Fatal(err)
	}
	pin1 := rel1.Images["app"]
	ins, err := h.cli.ImageInspect(ctx, pin1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range ins.RepoTags {
		if _, err := h.cli.ImageRemove(ctx, tag, client.ImageRemoveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = h.eng.Rollback(ctx, h.id.Name(), rel1.Number, nil)
	if !errors.Is(err, runtime.ErrMissingDependency) || !strings.Contains(err.Error(), pin1) {
		t.Fatalf("rollback to a release whose image is gone: %v; want ErrMissingDependency naming %s", err, pin1)
	}
	if _, err := h.cli.ImageInspect(ctx, pin1); err == nil {
		t.Error("the rollback built the missing image again")
	}
	if st, err := h.eng.Status(ctx, h.id.Name()); err != nil || st.Release != rel1.Number+1 {
		t.Errorf("status %+v %v: release %d must keep running", st.Instance, err, rel1.Number+1)
	}
}
