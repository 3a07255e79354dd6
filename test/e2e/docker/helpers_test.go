// Package dockere2e tests quai end to end on a real Docker Engine: the
// users-api example (Go API, static frontend, PostgreSQL) deployed through
// the CLI and the daemon, its images built locally through the Engine API
// (FROM scratch images of static binaries, PostgreSQL from the host's
// Debian packages tagged as postgres:15 so the stack file stays as users
// write it). Nothing is pulled. Without an engine the tests skip, except
// in CI (CI=true), where they fail.
package dockere2e

import (
	"context"
	"os"
	"testing"

	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/runtime/docker/dockertest"
)

func TestMain(m *testing.M) { daemontest.Main(m) }

// engine connects to the Docker Engine and makes the PostgreSQL image the
// example's `image: postgres:15` names. It returns the engine's address for
// the daemon.
func engine(t *testing.T) (*client.Client, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("deploys on a real Docker Engine")
	}
	cli := dockertest.Engine(t)
	pg := dockertest.PostgresImage(t, cli)
	dockertest.TagImage(t, cli, pg, "postgres:15")
	return cli, engineHost()
}

// engineHost is the Docker Engine's address for the daemon.
func engineHost() string {
	if host := os.Getenv("DOCKER_HOST"); host != "" {
		return host
	}
	return client.DefaultDockerHost
}

// containers lists the instance's containers: id → started-at, by the
// labels the docker runtime puts on them.
func containers(t *testing.T, cli *client.Client, instance, service string) map[string]string {
	t.Helper()
	ctx := context.Background()
	f := client.Filters{}.Add("label", "quai.instance="+instance)
	if service != "" {
		f = f.Add("label", "quai.service="+service)
	}
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range list.Items {
		ins, err := cli.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out[c.ID] = ins.Container.State.StartedAt
	}
	return out
}
