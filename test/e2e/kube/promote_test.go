package kubee2e

import (
	"context"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/registry"
	"github.com/quai-dev/quai/internal/registry/registrytest"
	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/runtime/docker/dockertest"
	"github.com/quai-dev/quai/internal/runtime/kube/kubetest"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/test/e2e/e2etest"
)

// TestPromoteDockerToKubernetes: staging runs on Docker and pushes what it
// builds to a real registry (TLS, basic auth); `quai promote` deploys
// staging's release to prod on the cluster, which pulls the same digest
// from the registry with the pull Secret quai gives it. Both releases pin
// the same repo@sha256 reference, the pod runs that digest, nothing was
// built for prod, and prod's release says where it came from.
func TestPromoteDockerToKubernetes(t *testing.T) {
	c := shared.Require(t)
	docker := dockertest.Engine(t)
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.Options{})
	t.Setenv("DOCKER_CONFIG", reg.DockerConfig)
	c.TrustRegistry(t, reg.Host, reg.CAPEM)

	dir := t.TempDir()
	_, file, _, _ := goruntime.Caller(0)
	app := kubetest.GoBinary(t, filepath.Join(filepath.Dir(file), "..", "..", "..", "internal", "runtime", "runtimetest"), "./testapp")
	if err := os.WriteFile(filepath.Join(dir, "app"), app, 0o755); err != nil {
		t.Fatal(err)
	}
	e2etest.WriteFile(t, dir, "Dockerfile", "FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n")
	e2etest.WriteFile(t, dir, ".dockerignore", "compose.yaml\nenvs\n")
	e2etest.WriteFile(t, dir, "compose.yaml", `x-quai:
  project: promo
  registry:
    url: `+reg.Host+`/team
services:
  web:
    build: .
    expose: ["8080"]
    environment:
      MODE: staging
    x-quai:
      health: { path: /healthz }
`)
	e2etest.WriteFile(t, dir, "envs/staging.yaml", "")
	e2etest.WriteFile(t, dir, "envs/prod.yaml", "x-quai:\n  promotion:\n    from: [staging]\nservices:\n  web:\n    environment:\n      MODE: prod\n")

	prodID := stack.Identity{Org: stack.DefaultOrg, Project: "promo", Env: "prod"}
	ns := render.Namespace(prodID)
	d := daemontest.Start(t, daemontest.Options{DockerHost: client.DefaultDockerHost, Kube: kubeConfig(c)})
	deleteNamespaceAtCleanup(t, c, ns)

	e2etest.MustQuai(t, d.Socket, "up", dir, "--env", "staging", "--runtime", "docker", "-y")
	staging := activeRelease(t, d, "promo-staging")
	pin := staging.Images["web"]
	repo, digest, ok := registry.SplitPinned(pin)
	if !ok || !strings.HasPrefix(repo, reg.Host+"/team/") {
		t.Fatalf("staging pins %q: want %s/team/...@sha256:...", pin, reg.Host)
	}
	t.Cleanup(func() {
		if ins, err := docker.ImageInspect(context.Background(), pin); err == nil {
			_, _ = docker.ImageRemove(context.Background(), ins.ID, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		}
	})

	plan := e2etest.MustQuai(t, d.Socket, "promote", dir, "--from", "staging", "--to", "prod", "--runtime", "kubernetes", "--dry-run")
	if !strings.Contains(plan, "promote promo-staging release 1 to promo-prod\n  web: image "+pin+" (new service)") {
		t.Errorf("the promotion's plan does not name staging's pin:\n%s", plan)
	}
	t0 := time.Now()
	out := e2etest.MustQuai(t, d.Socket, "promote", dir, "--from", "staging", "--to", "prod", "--runtime", "kubernetes", "-y")
	t.Logf("quai promote staging (docker) → prod (kubernetes): %s", time.Since(t0).Round(time.Millisecond))
	if strings.Contains(out, "building") || strings.Contains(out, "pushing") {
		t.Errorf("the promotion built or pushed:\n%s", out)
	}

	prod := activeRelease(t, d, "promo-prod")
	if prod.Runtime != "kubernetes" || prod.Images["web"] != pin || prod.Cause != "promoted from promo-staging release 1" {
		t.Errorf("prod's release: runtime %s, images %v, cause %q; want kubernetes running %s, promoted from promo-staging release 1",
			prod.Runtime, prod.Images, prod.Cause, pin)
	}
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("prod's pods: %v (%d), want one", err, len(pods.Items))
	}
	for _, env := range pods.Items[0].Spec.Containers[0].Env {
		if env.Name == "MODE" && env.Value != "prod" {
			t.Errorf("prod's pod runs with MODE=%q: want its own configuration", env.Value)
		}
	}
	for _, cs := range pods.Items[0].Status.ContainerStatuses {
		if !cs.Ready || !strings.HasSuffix(cs.ImageID, digest) {
			t.Errorf("prod's container %s: ready %v, image %s (%s); want %s ready", cs.Name, cs.Ready, cs.Image, cs.ImageID, pin)
		}
	}
	t.Logf("staging (docker) pins %s; prod (kubernetes) pins %s and its pod runs %s", pin, prod.Images["web"], pods.Items[0].Status.ContainerStatuses[0].ImageID)

	// Staging's image id, which only its engine knows, is refused across
	// runtimes with the fix.
	e2etest.WriteFile(t, dir, "compose.yaml", strings.Replace(readFile(t, dir, "compose.yaml"), "  registry:\n    url: "+reg.Host+"/team\n", "", 1))
	e2etest.WriteFile(t, dir, "envs/staging.yaml", "services:\n  web:\n    environment:\n      MODE: staging-2\n")
	e2etest.MustQuai(t, d.Socket, "up", dir, "--env", "staging", "-y")
	out, code := e2etest.Quai(t, d.Socket, "promote", dir, "--from", "staging", "--to", "prod", "-y")
	if code == 0 || !strings.Contains(out, "an id that exists only on the docker runtime, and the target runs on kubernetes; set x-quai.registry") {
		t.Errorf("promotion of an image id to Kubernetes: exit %d\n%s\nwant a refusal telling to set x-quai.registry", code, out)
	}
	if again := activeRelease(t, d, "promo-prod"); again.Number != prod.Number {
		t.Errorf("a refused promotion changed prod: release %d, was %d", again.Number, prod.Number)
	}
	if ins, err := docker.ImageInspect(ctx, activeRelease(t, d, "promo-staging").Images["web"]); err == nil {
		t.Cleanup(func() {
			_, _ = docker.ImageRemove(context.Background(), ins.ID, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		})
	}
}

// activeRelease returns the instance's active release.
func activeRelease(t *testing.T, d *daemontest.Daemon, instance string) releaseView {
	t.Helper()
	rels, err := d.Client.Releases(context.Background(), instance)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rels {
		if r.Status == "active" {
			return releaseView{Number: r.Number, Runtime: r.Runtime, Images: r.Images, Cause: r.Cause}
		}
	}
	t.Fatalf("%s has no active release: %+v", instance, rels)
	return releaseView{}
}

// releaseView is what the test reads of a release.
type releaseView struct {
	Number  int
	Runtime string
	Images  map[string]string
	Cause   string
}

func readFile(t *testing.T, dir, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
