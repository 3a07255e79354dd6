package kube_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/registry"
	"github.com/quai-dev/quai/internal/registry/registrytest"
	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/docker"
	"github.com/quai-dev/quai/internal/runtime/docker/dockertest"
	"github.com/quai-dev/quai/internal/runtime/kube"
	"github.com/quai-dev/quai/internal/runtime/kube/kubetest"
	"github.com/quai-dev/quai/internal/stack"
)

// TestPullFromRegistryByDigest: an image built on a Docker Engine and
// pushed to a registry with TLS and basic auth runs on the cluster by its
// digest. The cluster trusts the registry's CA, as a cluster's nodes would,
// and the runtime gives it the credentials from the Docker config as the
// namespace's pull Secret.
func TestPullFromRegistryByDigest(t *testing.T) {
	c := shared.Require(t)
	reg := registrytest.Start(t, registrytest.Options{})
	cli := dockertest.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Build and push on Docker, as `quai up` with x-quai.registry does.
	drt, err := docker.New(ctx, docker.Options{StateDir: t.TempDir(), DockerConfigDir: reg.DockerConfig})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = drt.Close() })
	dir := t.TempDir()
	app := kubetest.GoBinary(t, filepath.Join(repoRoot(t), "internal", "runtime", "runtimetest"), "./testapp")
	for name, body := range map[string][]byte{"app": app, "Dockerfile": []byte("FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	repo := reg.Repo("team/regpull-web")
	b, err := drt.BuildImage(ctx, docker.BuildSpec{Service: "web", Context: dir, Repository: repo})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = cli.ImageRemove(context.Background(), b.ID, client.ImageRemoveOptions{Force: true}) })
	auth, err := registry.Lookup(reg.DockerConfig, reg.Host)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := drt.PushImage(ctx, b.ID, []string{b.Ref}, auth, nil)
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	pinned := registry.Pinned(repo, digest)

	// Run it on the cluster by digest.
	c.TrustRegistry(t, reg.Host, reg.CAPEM)
	newKube := func(dockerConfig string) *kube.Runtime {
		r, err := kube.New(kube.Options{Config: c.Config, RolloutTimeout: 3 * time.Minute, DockerConfigDir: dockerConfig})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		return r
	}
	r := newKube(reg.DockerConfig)
	id := stack.Identity{Org: "default", Project: "regpull", Env: "test"}
	svc := &stack.Service{Name: "web", Image: pinned, Expose: []int{8080}, Replicas: 1, HealthPath: "/healthz", Hash: "1"}
	m := &stack.Model{Identity: id, Dir: dir, Services: []*stack.Service{svc}, Registry: &stack.Registry{URL: reg.Host + "/team"}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := r.Delete(ctx, id, true); err != nil {
			t.Errorf("purge: %v", err)
		}
		waitNamespacesGone(t, c, id.Project)
	})
	// Without credentials in the Docker config the registry refuses the
	// cluster's pull: the Secret is what lets it in.
	err = newKube(t.TempDir()).Apply(ctx, m, runtime.ApplyOptions{Release: 1})
	if !errors.Is(err, runtime.ErrRolloutFailed) || !strings.Contains(err.Error(), "ErrImagePull") && !strings.Contains(err.Error(), "ImagePullBackOff") {
		t.Fatalf("apply without registry credentials: %v; want a rollout failed on the image pull", err)
	}
	t.Logf("without credentials: %v", err)
	if err := r.Apply(ctx, m, runtime.ApplyOptions{Release: 2}); err != nil {
		t.Fatalf("apply: %v\nkubelet:\n%s", err, c.LogTail("kubelet", 30))
	}

	ns := render.Namespace(id)
	sec, err := c.Client.CoreV1().Secrets(ns).Get(ctx, kube.PullSecretName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("pull secret: %v", err)
	}
	if sec.Type != corev1.SecretTypeDockerConfigJson || !strings.Contains(string(sec.Data[corev1.DockerConfigJsonKey]), reg.Host) {
		t.Errorf("pull secret %s of type %s holds %d bytes: want a dockerconfigjson for %s", sec.Name, sec.Type, len(sec.Data[corev1.DockerConfigJsonKey]), reg.Host)
	}
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("pods: %v (%d)", err, len(pods.Items))
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue // the failed release's pod, on its way out
		}
		if ps := p.Spec.ImagePullSecrets; len(ps) != 1 || ps[0].Name != kube.PullSecretName {
			t.Errorf("pod %s pulls with secrets %v: want %s", p.Name, ps, kube.PullSecretName)
		}
		for _, cs := range p.Status.ContainerStatuses {
			if !cs.Ready || !strings.HasSuffix(cs.ImageID, digest) {
				t.Errorf("pod %s container %s: ready %v, image %s (%s): want %s ready", p.Name, cs.Name, cs.Ready, cs.Image, cs.ImageID, pinned)
			}
		}
	}
}
