package docker

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// createOnly does what a Start of spec does up to the container's
// creation, as a daemon does just before it starts the container (or when
// it crashed there): the instance network and a created container. It
// returns the container's id and the network's name.
func createOnly(t *testing.T, r *Runtime, spec runtime.ReplicaSpec, img string) (string, string) {
	t.Helper()
	ctx := context.Background()
	netName, err := r.ensureNetwork(ctx, spec.Instance)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := r.hostConfig(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	hc.NetworkMode = container.NetworkMode(netName)
	cfg, err := r.containerConfig(spec, img)
	if err != nil {
		t.Fatal(err)
	}
	cid, err := r.create(ctx, spec, containerName(spec.Instance, spec.Replica), cfg, hc, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = r.cli.ContainerRemove(context.Background(), cid, client.ContainerRemoveOptions{Force: true})
		_, _ = r.cli.NetworkRemove(context.Background(), netName, client.NetworkRemoveOptions{})
	})
	return cid, netName
}

// TestTwoDaemonsShareAnEngine runs two daemons' runtimes on one engine. The
// second one's start-up clean-up leaves alone the container the first has
// created and not yet started, and the first one's network without
// containers; it still cleans its own orphans, and what its store records
// is never an orphan. A container name the first daemon holds is refused
// to the second, not taken over.
func TestTwoDaemonsShareAnEngine(t *testing.T) {
	suffix := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	first := newRuntime(t, Options{DaemonID: "first-" + suffix})
	second := newRuntime(t, Options{DaemonID: "second-" + suffix})
	app := testAppImage(t, first)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	starting := stack.Identity{Org: "default", Project: "shared-" + suffix, Env: "starting"}
	empty := stack.Identity{Org: "default", Project: "shared-" + suffix, Env: "empty"}
	crashed := stack.Identity{Org: "default", Project: "shared-" + suffix, Env: "crashed"}
	recorded := stack.Identity{Org: "default", Project: "shared-" + suffix, Env: "recorded"}
	firstCID, _ := createOnly(t, first, appSpec(starting, app, "web", "web-1"), app)
	if _, err := first.ensureNetwork(ctx, empty); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = first.cli.NetworkRemove(context.Background(), networkName(empty), client.NetworkRemoveOptions{})
	})
	ownCID, _ := createOnly(t, second, appSpec(crashed, app, "web", "web-1"), app)
	keptCID, _ := createOnly(t, second, appSpec(recorded, app, "web", "web-1"), app)

	done, err := second.CleanOrphans(ctx, Recorded{Containers: map[string]bool{keptCID: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.cli.ContainerStart(ctx, firstCID, client.ContainerStartOptions{}); err != nil {
		t.Errorf("the first daemon cannot start the container it created after the second one started: %v", err)
	}
	if _, err := first.cli.NetworkInspect(ctx, networkName(empty), client.NetworkInspectOptions{}); err != nil {
		t.Errorf("the second daemon removed the first one's network: %v", err)
	}
	for _, name := range done.Containers {
		if name == containerName(starting, "web-1") {
			t.Errorf("the second daemon reports removing the first one's container: %+v", done)
		}
	}
	if slices.Contains(done.Networks, networkName(empty)) {
		t.Errorf("the second daemon reports removing the first one's network: %+v", done)
	}

	if !slices.Contains(done.Containers, containerName(crashed, "web-1")) {
		t.Errorf("cleaned = %+v, want the second daemon's own orphan %s", done, containerName(crashed, "web-1"))
	}
	if _, err := second.cli.ContainerInspect(ctx, ownCID, client.ContainerInspectOptions{}); err == nil {
		t.Error("the second daemon's own orphan container is still there")
	}
	if _, err := second.cli.ContainerInspect(ctx, keptCID, client.ContainerInspectOptions{}); err != nil {
		t.Errorf("the container the second daemon's store records was removed: %v", err)
	}

	// The name of the first daemon's replica is refused to the second.
	spec := appSpec(starting, app, "web", "web-1")
	spec.Index, spec.Release = 1, 1
	_, err = second.Start(ctx, spec)
	if !errors.Is(err, ErrOtherDaemon) {
		t.Errorf("second daemon starting the first one's replica: err = %v, want ErrOtherDaemon", err)
	}
	if _, ierr := first.cli.ContainerInspect(ctx, firstCID, client.ContainerInspectOptions{}); ierr != nil {
		t.Errorf("the first daemon's container is gone after the second one tried its name: %v", ierr)
	}
	if hs, err := second.List(ctx, starting); err != nil || len(hs) != 0 {
		t.Errorf("second daemon lists %d of the first one's replicas (%v)", len(hs), err)
	}
	if hs, err := first.List(ctx, starting); err != nil || len(hs) != 1 || hs[0].ID != firstCID {
		t.Errorf("first daemon lists %d replicas (%v); want its container", len(hs), err)
	}
	if got := handleLabels(t, first, firstCID)[runtime.LabelDaemon]; got != first.DaemonID() {
		t.Errorf("container label %s = %q, want %q", runtime.LabelDaemon, got, first.DaemonID())
	}
}

func handleLabels(t *testing.T, r *Runtime, cid string) map[string]string {
	t.Helper()
	c, err := r.cli.ContainerInspect(context.Background(), cid, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return c.Container.Config.Labels
}
