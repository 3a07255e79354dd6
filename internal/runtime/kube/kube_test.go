package kube_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/kube"
	"github.com/quai-dev/quai/internal/runtime/kube/kubetest"
	"github.com/quai-dev/quai/internal/stack"
)

// shared is the package's cluster, started once by TestMain.
var shared kubetest.Shared

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m, &shared)) }

// repoRoot is the repository's root directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := goruntime.Caller(0)
	if !ok {
		t.Fatal("cannot find the test's source directory")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

func newRuntime(t *testing.T, c *kubetest.Cluster) *kube.Runtime {
	t.Helper()
	r, err := kube.New(kube.Options{Config: c.Config, RolloutTimeout: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func load(t *testing.T, dir, env string, environ map[string]string) *stack.Model {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := stack.Load(ctx, stack.Options{Dir: dir, Env: env, Environ: environ})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDryRunEveryFixture sends every fixture's rendered objects to the
// apiserver as a server-side dry run: the cluster must accept all of them
// (schema, defaults, admission), which golden files cannot check.
func TestDryRunEveryFixture(t *testing.T) {
	c := shared.Require(t)
	r := newRuntime(t, c)
	dirs, err := filepath.Glob(filepath.Join(repoRoot(t), "testdata", "stacks", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		envs := []string{"dev"}
		overlays, _ := filepath.Glob(filepath.Join(dir, "envs", "*.yaml"))
		for _, o := range overlays {
			if e := strings.TrimSuffix(filepath.Base(o), ".yaml"); e != "dev" {
				envs = append(envs, e)
			}
		}
		for _, env := range envs {
			t.Run(filepath.Base(dir)+"/"+env, func(t *testing.T) {
				environ := map[string]string{"DB_PASSWORD": "dry-run-password"}
				for _, kv := range os.Environ() {
					if k, v, ok := cutEnv(kv); ok {
						if _, set := environ[k]; !set {
							environ[k] = v
						}
					}
				}
				m := load(t, dir, env, environ)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				ns := render.Namespace(m.Identity)
				_, existed := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
				if err := r.Apply(ctx, m, runtime.ApplyOptions{Release: 1, DryRun: true}); err != nil {
					t.Fatalf("the apiserver refused the rendering of %s (%s):\n%v", filepath.Base(dir), env, err)
				}
				// A dry run changes nothing.
				if _, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); existed != nil && err == nil {
					t.Errorf("dry run created namespace %s", ns)
				}
			})
		}
	}
}

func cutEnv(kv string) (string, string, bool) {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], i > 0
		}
	}
	return "", "", false
}

// TestDryRunReportsRefusals checks the dry run can fail: an object the
// apiserver refuses is reported with its kind and name.
func TestDryRunReportsRefusals(t *testing.T) {
	c := shared.Require(t)
	r := newRuntime(t, c)
	m := &stack.Model{
		Identity: stack.Identity{Org: "default", Project: "refused", Env: "test"},
		Services: []*stack.Service{{
			Name: "web", Image: "quai.test/app:1", Replicas: 1, Expose: []int{8080},
			// A uid beyond 2^31-1 passes rendering but not validation.
			User: "4294967296",
		}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := r.Apply(ctx, m, runtime.ApplyOptions{DryRun: true})
	if err == nil {
		t.Fatal("the apiserver accepted a uid beyond 2^31-1")
	}
	t.Logf("refused as expected: %v", err)
}

func TestStateOfAMissingInstance(t *testing.T) {
	c := shared.Require(t)
	r := newRuntime(t, c)
	if _, err := r.State(context.Background(), stack.Identity{Project: "absent", Env: "test"}); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("State of a missing instance: %v, want ErrNotFound", err)
	}
}

func TestUnreachableClusterIsUnavailable(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(cfg, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := kube.New(kube.Options{Kubeconfig: cfg, Context: "x"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := r.List(ctx, stack.Identity{Project: "p", Env: "e"}); !errors.Is(err, runtime.ErrUnavailable) {
		t.Errorf("List on a closed port: %v, want ErrUnavailable", err)
	}
	if _, err := kube.New(kube.Options{Kubeconfig: cfg, Context: "missing"}); !errors.Is(err, runtime.ErrUnavailable) {
		t.Errorf("unknown context: %v, want ErrUnavailable", err)
	}
}
