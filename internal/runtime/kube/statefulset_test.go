package kube_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// TestStatefulSetGetsANewVolume: a service with a volume is a StatefulSet,
// whose volume claim templates the cluster never updates. Giving the
// service a second volume must still apply — the StatefulSet is replaced,
// its pod rolled — and the first volume's data must survive.
func TestStatefulSetGetsANewVolume(t *testing.T) {
	c := shared.Require(t)
	c.GoImage(t, conformanceImage, filepath.Join(repoRoot(t), "internal", "runtime", "runtimetest"), "./testapp", v1.Config{
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
	})
	r := newRuntime(t, c)
	id := stack.Identity{Org: stack.DefaultOrg, Project: "stsvolume", Env: "test"}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := r.Delete(ctx, id, true); err != nil {
			t.Errorf("purge: %v", err)
		}
		waitNamespacesGone(t, c, id.Project)
	})
	model := func(volumes ...string) *stack.Model {
		svc := &stack.Service{Name: "db", Image: conformanceImage, Replicas: 1, Expose: []int{8080},
			Environment: map[string]string{"DATA_DIR": "/data/" + volumes[0]}}
		m := &stack.Model{Identity: id, Services: []*stack.Service{svc}}
		for _, v := range volumes {
			svc.Mounts = append(svc.Mounts, stack.Mount{Type: stack.MountVolume, Source: v, Target: "/data/" + v})
			m.Volumes = append(m.Volumes, stack.Volume{Name: v})
		}
		svc.Hash = fmt.Sprintf("v%d", len(volumes))
		return m
	}
	apply := func(m *stack.Model, release int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		err := r.Apply(ctx, m, runtime.ApplyOptions{Release: release, Emit: func(msg string) { t.Logf("release %d: %s", release, msg) }})
		if err != nil {
			t.Fatalf("apply release %d: %v", release, err)
		}
	}
	addr := func() string {
		t.Helper()
		hs, err := r.List(context.Background(), id)
		if err != nil || len(hs) == 0 {
			t.Fatalf("replicas: %v %v", hs, err)
		}
		for _, h := range hs {
			if st, err := r.Inspect(context.Background(), h); err == nil && st.State == runtime.StateRunning && h.Address != "" {
				return "http://" + h.Address
			}
		}
		t.Fatalf("no running replica in %v", hs)
		return ""
	}

	apply(model("first"), 1)
	if code, body, err := call(http.MethodGet, addr()+"/write?value=kept", ""); err != nil || code != http.StatusOK {
		t.Fatalf("write: %d %s %v", code, body, err)
	}
	apply(model("first", "second"), 2)
	vols, err := r.Volumes(context.Background(), id)
	if err != nil || len(vols) != 2 {
		t.Fatalf("claims after adding a volume: %v %v, want two", vols, err)
	}
	pod, err := c.Client.CoreV1().Pods(render.Namespace(id)).Get(context.Background(), "db-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var mounts []string
	for _, m := range pod.Spec.Containers[0].VolumeMounts {
		mounts = append(mounts, m.MountPath)
	}
	if !slices.Contains(mounts, "/data/second") || pod.DeletionTimestamp != nil {
		t.Fatalf("db-0 mounts %v once the rollout is done: the pod was not rolled to the new template", mounts)
	}
	code, body, err := call(http.MethodGet, addr()+"/read", "")
	if err != nil || code != http.StatusOK || body != "kept" {
		t.Fatalf("read after the StatefulSet was replaced: %d %q %v, want the first volume's data", code, body, err)
	}
}
