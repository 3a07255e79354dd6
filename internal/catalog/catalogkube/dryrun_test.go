package catalogkube

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/catalog/catalogtest"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/kube"
	"github.com/quai-dev/quai/internal/runtime/kube/kubetest"
)

var shared kubetest.Shared

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m, &shared)) }

// TestDryRunEveryEntry installs every built-in entry for env prod and org
// acme and sends its Kubernetes rendering to the apiserver as a server-side
// dry run: schema, defaults and admission must accept every object.
func TestDryRunEveryEntry(t *testing.T) {
	c := shared.Require(t)
	r, err := kube.New(kube.Options{Config: c.Config, RolloutTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	for _, e := range catalogtest.Builtin(t) {
		t.Run(e.Name, func(t *testing.T) {
			_, m := catalogtest.Install(t, e, "prod", "acme")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := r.Apply(ctx, m, runtime.ApplyOptions{Release: 1, DryRun: true}); err != nil {
				t.Fatalf("the apiserver refused the rendering of %s:\n%v", e.Name, err)
			}
		})
	}
}
