package kube_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/kube/kubetest"
	"github.com/quai-dev/quai/internal/runtime/runtimetest"
)

// conformanceImage runs the suite's test app; it is loaded into the
// cluster once and shared by every subtest.
const conformanceImage = "quai.test/conformance-app:1"

// TestConformance runs the applier half of the runtime conformance suite on
// the test cluster: each subtest applies its own instance (its own
// namespace) and purges it.
func TestConformance(t *testing.T) {
	c := shared.Require(t)
	t0 := time.Now()
	c.GoImage(t, conformanceImage, filepath.Join(repoRoot(t), "internal", "runtime", "runtimetest"), "./testapp", v1.Config{
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
	})
	t.Logf("test app image built and loaded in %s", time.Since(t0).Round(time.Millisecond))
	t.Cleanup(func() { waitNamespacesGone(t, c, "conformance") })

	runtimetest.RunApplier(t, func(t *testing.T) runtimetest.Target {
		return runtimetest.Target{
			Runtime: newRuntime(t, c),
			Reopen:  func(t *testing.T) runtime.Runtime { return newRuntime(t, c) },
			Prepare: func(_ *testing.T, rs *runtime.ReplicaSpec) {
				rs.Service.Image = conformanceImage
			},
			AppCommand: []string{"/app"},
		}
	})
}

// waitNamespacesGone waits until the purged instances of project have left
// the cluster, so that later tests find it as it was.
func waitNamespacesGone(t *testing.T, c *kubetest.Cluster, project string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sel := render.LabelProject + "=" + project
	for {
		list, err := c.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err == nil && len(list.Items) == 0 {
			return
		}
		if ctx.Err() != nil {
			var names []string
			if list != nil {
				for _, ns := range list.Items {
					names = append(names, ns.Name)
				}
			}
			t.Errorf("namespaces of project %s still there two minutes after their purge: %v %v", project, names, err)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}
