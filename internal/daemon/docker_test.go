package daemon_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// TestUnreachableDockerEngine: a daemon whose Docker Engine does not answer
// starts all the same, lists the docker runtime, warns, and a deploy on it
// fails with the runtime's error naming the address and the fix, leaving
// no instance behind.
func TestUnreachableDockerEngine(t *testing.T) {
	sock := "unix://" + filepath.Join(t.TempDir(), "no-docker.sock")
	d := daemontest.Start(t, daemontest.Options{DockerHost: sock})
	ctx := context.Background()
	info, err := d.Client.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(info.Runtimes, "docker") || !slices.Contains(info.Runtimes, "process") {
		t.Errorf("runtimes %v: want docker and process", info.Runtimes)
	}
	if len(info.Warnings) == 0 || !strings.Contains(strings.Join(info.Warnings, "\n"), sock) {
		t.Errorf("warnings %q: want one naming %s", info.Warnings, sock)
	}

	dir := daemontest.AppProject(t, daemontest.App{})
	m, err := stack.Load(ctx, stack.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := wire.NewModelPayload(m, m.Resolved)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Client.Up(ctx, payload, client.UpOptions{Runtime: "docker"}, nil)
	var opErr *client.OperationError
	if !errors.As(err, &opErr) {
		t.Fatalf("up on an unreachable engine: %v; want a failed operation", err)
	}
	for _, want := range []string{sock, "cannot reach the Docker Engine", "DOCKER_HOST"} {
		if !strings.Contains(opErr.Event.Error, want) {
			t.Errorf("error %q does not say %q", opErr.Event.Error, want)
		}
	}
	list, err := d.Client.Instances(ctx)
	if err != nil || len(list) != 0 {
		t.Errorf("instances %v %v: a failed first deploy must leave none", list, err)
	}
}
