package daemon_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/daemon"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/docker"
	"github.com/quai-dev/quai/internal/runtime/docker/dockertest"
)

// emptyImage builds an image with no files, enough for containers that
// are created and never started.
func emptyImage(t *testing.T, cli *client.Client) string {
	t.Helper()
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	df := []byte("FROM scratch\nLABEL quai.test=empty\nCMD [\"/none\"]\n")
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df))}); err != nil {
		t.Fatal(err)
	}
	_, _ = tw.Write(df)
	_ = tw.Close()
	const ref = "quai-test/empty:1"
	resp, err := cli.ImageBuild(context.Background(), &ctxTar, client.ImageBuildOptions{Tags: []string{ref}, Remove: true})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if bytes.Contains(out, []byte(`"error"`)) {
		t.Fatalf("build %s: %s", ref, out)
	}
	return ref
}

// TestStartCleansOnlyItsOwnDockerOrphans puts on the engine what a
// daemon's crash leaves (a created container, a network without
// containers) twice: once labelled with the starting daemon's identity,
// once with another daemon's. The daemon's start-up clean-up removes its
// own and leaves the other daemon's alone; before daemons had identities it
// removed both.
func TestStartCleansOnlyItsOwnDockerOrphans(t *testing.T) {
	cli := dockertest.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	img := emptyImage(t, cli)
	suffix := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	dataDir := t.TempDir()
	own, other := "own"+suffix, "other"+suffix
	if err := os.WriteFile(daemon.IdentityPath(dataDir), []byte(own+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, id := range []string{own, other} {
		labels := map[string]string{
			docker.LabelManaged: docker.Name, runtime.LabelDaemon: id,
			runtime.LabelOrg: "default", runtime.LabelProject: "shared" + suffix, runtime.LabelEnv: id, runtime.LabelReplica: "web-1",
		}
		name := "quai-default-shared" + suffix + "-" + id
		if _, err := cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Labels: labels}); err != nil {
			t.Fatal(err)
		}
		if _, err := cli.NetworkCreate(ctx, name+"-empty", client.NetworkCreateOptions{Driver: "bridge", Labels: labels}); err != nil {
			t.Fatal(err)
		}
		res, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name + "-web-1",
			Config: &container.Config{Image: img, Labels: labels}, HostConfig: &container.HostConfig{NetworkMode: container.NetworkMode(name)}})
		if err != nil {
			t.Fatal(err)
		}
		names[id] = name
		t.Cleanup(func() {
			bg := context.Background()
			_, _ = cli.ContainerRemove(bg, res.ID, client.ContainerRemoveOptions{Force: true})
			_, _ = cli.NetworkRemove(bg, name, client.NetworkRemoveOptions{})
			_, _ = cli.NetworkRemove(bg, name+"-empty", client.NetworkRemoveOptions{})
		})
	}

	d := daemontest.Start(t, daemontest.Options{DataDir: dataDir, DockerHost: cli.DaemonHost()})
	if d.ID() != own {
		t.Fatalf("daemon identity %q, want the data directory's %q", d.ID(), own)
	}
	for _, obj := range []string{names[own] + "-web-1", names[own] + "-empty"} {
		if !gone(ctx, cli, obj) {
			t.Errorf("the daemon's own orphan %s is still there", obj)
		}
	}
	for _, obj := range []string{names[other] + "-web-1", names[other] + "-empty", names[other]} {
		if gone(ctx, cli, obj) {
			t.Errorf("the daemon removed %s, another daemon's", obj)
		}
	}
	info, err := d.Client.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(info.Warnings, "\n"); !strings.Contains(w, names[own]+"-web-1") || strings.Contains(w, names[other]) {
		t.Errorf("warnings %q: want the own orphans reported, and no other daemon's", w)
	}
}

// gone reports whether no container or network has the name.
func gone(ctx context.Context, cli *client.Client, name string) bool {
	if _, err := cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{}); err == nil {
		return false
	}
	_, err := cli.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	return err != nil
}
