package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/registry"
	"github.com/quai-dev/quai/internal/registry/registrytest"
	"github.com/quai-dev/quai/internal/runtime/docker"
	"github.com/quai-dev/quai/internal/stack"
)

// TestPromoteByRegistryDigest: staging pushes to a real registry and pins
// repo@sha256:digest; once the image has left the engine, the promotion
// to prod pulls exactly that digest (never a tag, never a build), prod's
// release pins the same reference and its replica runs it.
func TestPromoteByRegistryDigest(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	t.Setenv("DOCKER_CONFIG", reg.DockerConfig)
	h := newDockerHarness(t, func(d *docker.Options, _ *Options) { d.DockerConfigDir = reg.DockerConfig })
	p := &promoteHarness{dockerHarness: h, staging: h.id}
	p.staging.Env = h.id.Env + "-staging"
	t.Cleanup(func() { _ = h.eng.Remove(context.Background(), p.staging.Name(), true, nil) })
	ctx := context.Background()

	staging := registryModel(h, reg, "1", "v1")
	staging.Identity = p.staging
	stg, err := h.eng.Up(ctx, UpRequest{Model: staging}, nil)
	if err != nil {
		t.Fatalf("up staging: %v", err)
	}
	pin := stg.Images["app"]
	repo := registry.Repository(reg.Host+"/team", h.id.Project, "app")
	if r, _, ok := registry.SplitPinned(pin); !ok || r != repo {
		t.Fatalf("staging pins %q: want %s@sha256:...", pin, repo)
	}
	h.tags = append(h.tags, pin, repo+":"+ReleaseTag(stg.Number), repo+":v1")
	ins, err := h.cli.ImageInspect(ctx, pin)
	if err != nil {
		t.Fatal(err)
	}
	// Staging's replica goes, and with it the image, so that prod can only
	// get it from the registry.
	if err := h.eng.Down(ctx, p.staging.Name(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.cli.ImageRemove(ctx, ins.ID, client.ImageRemoveOptions{Force: true}); err != nil {
		t.Fatalf("remove staging's image: %v", err)
	}

	var ev events
	rel, err := h.eng.Promote(ctx, PromoteRequest{Model: p.prodModel("2", &stack.Promotion{From: []string{p.staging.Env}}), Source: p.staging.Name()}, ev.emit)
	if err != nil {
		t.Fatalf("promote: %v\n%v", err, ev.list)
	}
	if rel.Images["app"] != pin || h.configImage() != pin || h.running() != ins.ID {
		t.Errorf("prod pins %v, runs %s (%s): want staging's %s (%s)", rel.Images, h.configImage(), h.running(), pin, ins.ID)
	}
	for _, e := range ev.list {
		if e.Step == "push" || e.Step == "image" && strings.Contains(e.Message, "building") {
			t.Errorf("the promotion built or pushed: %+v", e)
		}
	}
}
