package dockere2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/cli"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/runtime/docker/dockertest"
	"github.com/quai-dev/quai/test/e2e/e2etest"
)

// traceback is what the crash-looping release prints before it exits 1, as
// a Python app missing a module would.
const traceback = `Traceback (most recent call last):
  File "/srv/app/main.py", line 3, in <module>
    import flask
ModuleNotFoundError: No module named 'flask'`

// crashProject writes a one-service project built FROM scratch with the
// runtime suite's static test app: serving on 8080, or with crash set
// printing traceback and exiting 1 at every start. A new version replaces
// the replicas.
func crashProject(t *testing.T, dir, version string, crash bool) {
	t.Helper()
	command := ""
	if crash {
		command = fmt.Sprintf("\n    command: [\"echo\", %q, \"1\"]", traceback)
	}
	e2etest.WriteFile(t, dir, "Dockerfile", "FROM scratch\nCOPY testapp /testapp\nENTRYPOINT [\"/testapp\"]\n")
	e2etest.WriteFile(t, dir, "compose.yaml", fmt.Sprintf(`x-quai:
  project: crashd
  routes:
    - path: /
      service: web
      port: 8080
      tls: "off"
services:
  web:
    build: .
    image: quai-e2e/crashd:test%s
    environment:
      VERSION: %q
    expose: [8080]
    x-quai:
      health: { path: /healthz }
`, command, version))
}

// TestCrashLoopFailsUpWithItsTracebackOnDocker is the process runtime's
// crash-loop test on a real Docker Engine: `up` of a release whose
// container crashes at every start fails after three crashes with the
// traceback and exit code in its output, the previous release keeps
// serving, the failed container is kept (exited, with its logs) for `logs
// --release`, and `prune` removes it.
func TestCrashLoopFailsUpWithItsTracebackOnDocker(t *testing.T) {
	if testing.Short() {
		t.Skip("deploys on a real Docker Engine")
	}
	engineCli := dockertest.Engine(t)
	host := engineHost()
	dir := filepath.Join(t.TempDir(), "crashd")
	dockertest.GoBuildStatic(t, filepath.Dir(filepath.Dir(e2etest.ExampleDir(t))), "./internal/runtime/runtimetest/testapp", filepath.Join(dir, "testapp"))
	d := daemontest.Start(t, daemontest.Options{DockerHost: host, HealthTimeout: 10 * time.Minute})
	t.Cleanup(func() {
		// The stack's tag and the tags quai built it under.
		ctx := context.Background()
		refs := []string{"quai-e2e/crashd:test"}
		if list, err := engineCli.ImageList(ctx, client.ImageListOptions{Filters: client.Filters{}.Add("reference", "quai-default-crashd-dev-web")}); err == nil {
			for _, im := range list.Items {
				refs = append(refs, im.RepoTags...)
			}
		}
		for _, ref := range refs {
			_, _ = engineCli.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true})
		}
	})
	const inst = "crashd-dev"

	crashProject(t, dir, "1", false)
	e2etest.MustQuai(t, d.Socket, "up", dir, "--runtime", "docker", "-y")
	get := func() int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "http://"+d.ProxyHTTPAddr()+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "crashd.dev.localhost"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET through the proxy: %v", err)
		}
		defer func() { _ = resp.Body.Close() }()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	if code := get(); code != http.StatusOK {
		t.Fatalf("release 1 answers %d", code)
	}

	crashProject(t, dir, "2", true)
	out, code := e2etest.Quai(t, d.Socket, "up", dir, "-y")
	t.Logf("quai up of the crash-looping release (exit %d):\n%s", code, out)
	if code != cli.ExitFailed {
		t.Fatalf("quai up exited %d, want %d (failed operation)", code, cli.ExitFailed)
	}
	for _, want := range []string{
		"web-r2-1: health failed: crashed 3 times, last with exit code 1",
		"  | Traceback (most recent call last):",
		"  | ModuleNotFoundError: No module named 'flask'",
		"release 2 failed, release 1 keeps serving",
		"quai logs crashd-dev --release 2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output of the failed up lacks %q", want)
		}
	}
	if code := get(); code != http.StatusOK {
		t.Errorf("after the failed release the site answers %d; release 1 must keep serving", code)
	}

	// The failed replica's container is kept, stopped, with its exit code.
	failed := listContainers(t, engineCli, "web-r2-1")
	if len(failed) != 1 || failed[0].running || failed[0].exitCode != 1 {
		t.Errorf("containers of the failed replica: %+v; want one, exited with code 1", failed)
	}
	logs := e2etest.MustQuai(t, d.Socket, "logs", inst, "--release", "2")
	if !strings.Contains(logs, "ModuleNotFoundError: No module named 'flask'") {
		t.Errorf("logs --release 2 lacks the traceback:\n%s", logs)
	}

	out = e2etest.MustQuai(t, d.Socket, "prune", "-y")
	t.Logf("quai prune:\n%s", out)
	if !strings.Contains(out, "removed 1 stopped replica(s) of failed releases") {
		t.Errorf("prune does not say it removed the failed replica:\n%s", out)
	}
	if left := listContainers(t, engineCli, "web-r2-1"); len(left) != 0 {
		t.Errorf("after prune the failed replica's container remains: %+v", left)
	}
	if code := get(); code != http.StatusOK {
		t.Errorf("after prune the site answers %d", code)
	}
}

type containerState struct {
	id       string
	running  bool
	exitCode int
}

// listContainers lists the containers of a replica, whatever their state.
func listContainers(t *testing.T, cli *client.Client, replica string) []containerState {
	t.Helper()
	ctx := context.Background()
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: client.Filters{}.Add("label", "quai.instance=crashd-dev").Add("label", "quai.replica="+replica)})
	if err != nil {
		t.Fatal(err)
	}
	var out []containerState
	for _, c := range list.Items {
		ins, err := cli.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, containerState{id: c.ID, running: ins.Container.State.Running, exitCode: ins.Container.State.ExitCode})
	}
	return out
}
