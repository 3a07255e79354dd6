// Package kubee2e tests quai end to end on a real Kubernetes cluster (the
// kubetest harness: etcd, apiserver, controller-manager, scheduler,
// kubelet, kube-proxy): the users-api example deployed through the CLI and
// the daemon with `--runtime kubernetes`, its images built locally and
// loaded into the cluster's containerd (PostgreSQL from the host's Debian
// packages, tagged postgres:15 so the stack file stays as users write it).
// Nothing is pulled. Without the cluster's binaries the tests skip, except
// in CI (CI=true), where they fail.
package kubee2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/quai-dev/quai/internal/daemon"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/runtime/kube/kubetest"
	"github.com/quai-dev/quai/test/e2e/e2etest"
)

var shared kubetest.Shared

func TestMain(m *testing.M) {
	daemontest.Child()
	os.Exit(kubetest.Main(m, &shared))
}

const (
	instance  = "e2e/users-api-dev"
	namespace = "e2e-users-api-dev"
	siteHost  = "users-api.dev.e2e.localhost" // org e2e's default host
)

// deleteNamespaceAtCleanup deletes the namespace when the test ends and
// waits until it is gone: whatever happened, later tests find the cluster
// as it was.
func deleteNamespaceAtCleanup(t *testing.T, c *kubetest.Cluster, ns string) {
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_ = c.Client.CoreV1().Namespaces().Delete(cctx, ns, metav1.DeleteOptions{})
		for cctx.Err() == nil {
			if _, err := c.Client.CoreV1().Namespaces().Get(cctx, ns, metav1.GetOptions{}); err != nil {
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
	})
}

// eventually retries fn for up to a minute: a Service kube-proxy has not
// programmed yet, or a connection to a pod that just left, fails once.
func eventually(t *testing.T, what string, fn func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if err = fn(); err == nil {
			return
		}
	}
	t.Fatalf("%s: %v", what, err)
}

// TestUsersAPIOnKubernetes deploys the example with `quai up --runtime
// kubernetes` and walks through an instance's life with the CLI: install
// (pods running, PostgreSQL as a StatefulSet with a claim, routes as
// Ingress objects of the configured class through which the site and the
// API answer, NetworkPolicies), status with nodes, an update, a
// broken release that fails with the pod's reason while the previous pods
// keep serving, rollback, logs of every replica, exec, a rolling restart,
// a daemon restart that touches nothing, down and up with the data kept,
// rm that keeps the claim, rm --purge that deletes it.
func TestUsersAPIOnKubernetes(t *testing.T) {
	c := shared.Require(t)
	ctx := context.Background()

	dir := e2etest.Project(t, nil)
	c.UsersAPIImages(t, e2etest.ExampleDir(t), "1", "2")

	dataDir := t.TempDir()
	d := daemontest.Start(t, daemontest.Options{DataDir: dataDir, Kube: kubeConfig(c), KeepInstances: true})
	deleteNamespaceAtCleanup(t, c, namespace)

	// Install. The time from `quai up` to every pod ready is the figure
	// the runtime is judged on.
	e2etest.SetVersion(t, dir, "1")
	t0 := time.Now()
	out := e2etest.MustQuai(t, d.Socket, "up", dir, "--org", "e2e", "--runtime", "kubernetes", "-y")
	t.Logf("quai up → all pods ready: %s", time.Since(t0).Round(time.Millisecond))
	if !strings.Contains(out, "applied") || !strings.Contains(out, "release 1") {
		t.Errorf("up shows no apply progress or release:\n%s", out)
	}
	pods := podsByService(t, c)
	for _, svc := range []string{"api", "db", "web"} {
		p := pods[svc]
		if len(p) != 1 || p[0].Status.Phase != corev1.PodRunning {
			t.Fatalf("service %s: pods %v, want one running", svc, names(p))
		}
	}
	if pods["db"][0].Name != "db-0" {
		t.Errorf("the database runs as %s, want db-0 of a StatefulSet", pods["db"][0].Name)
	}
	if _, err := c.Client.AppsV1().StatefulSets(namespace).Get(ctx, "db", metav1.GetOptions{}); err != nil {
		t.Errorf("the database is not a StatefulSet: %v", err)
	}
	ing, err := c.Client.NetworkingV1().Ingresses(namespace).List(ctx, metav1.ListOptions{})
	if err != nil || len(ing.Items) != 2 {
		t.Fatalf("ingresses: %v %v, want one per route", ing, err)
	}
	for _, i := range ing.Items {
		if i.Spec.IngressClassName == nil || *i.Spec.IngressClassName != kubetest.IngressClass || i.Spec.Rules[0].Host != siteHost {
			t.Errorf("ingress %s: class %v host %s, want class %s (the daemon's) and host %s", i.Name,
				i.Spec.IngressClassName, i.Spec.Rules[0].Host, kubetest.IngressClass, siteHost)
		}
	}
	if np, err := c.Client.NetworkingV1().NetworkPolicies(namespace).List(ctx, metav1.ListOptions{}); err != nil || len(np.Items) == 0 {
		t.Errorf("network policies: %v %v, want the instance isolated", np, err)
	}

	site := ingressSite(c)
	if v := version(t, site); v != "1" {
		t.Fatalf("version %q, want 1", v)
	}
	eventually(t, "the page through the ingress controller", site.Page)
	var ada e2etest.User
	eventually(t, "create a user", func() error {
		_, err := site.Do("POST", "/api/users", map[string]string{"name": "ada", "email": "ada@example.com"}, &ada)
		return err
	})

	status := e2etest.MustQuai(t, d.Socket, "status", instance)
	if !strings.Contains(status, "runtime kubernetes") || !strings.Contains(status, "NODE") ||
		!strings.Contains(status, kubetest.NodeName) || !regexp.MustCompile(`(?m)^db\s+1/1\s+db-0\s+running\s+healthy`).MatchString(status) {
		t.Errorf("status does not show the pods ready on their node:\n%s", status)
	}
	if !strings.Contains(status, "http://"+siteHost+"/api") {
		t.Errorf("status does not show the ingress URLs:\n%s", status)
	}

	// Update.
	e2etest.SetVersion(t, dir, "2")
	e2etest.MustQuai(t, d.Socket, "up", dir, "--org", "e2e", "-y")
	if v := version(t, site); v != "2" {
		t.Fatalf("version after the update %q, want 2", v)
	}

	// A broken release: its image names a registry on loopback where
	// nothing listens, so the pull fails at once and nothing leaves the
	// machine. `up` fails with the pod's reason, the previous pods keep
	// serving, and the engine re-applies the active release.
	e2etest.WriteFile(t, dir, "compose.override.yaml", "services:\n  api:\n    image: 127.0.0.1:1/users-api/api:3\n")
	e2etest.SetVersion(t, dir, "3")
	out, code := e2etest.Quai(t, d.Socket, "up", dir, "--org", "e2e", "-y")
	if code == 0 || !strings.Contains(out, "users-api/api:3") ||
		(!strings.Contains(out, "ErrImagePull") && !strings.Contains(out, "ImagePullBackOff")) ||
		!strings.Contains(out, "release 2 keeps serving") {
		t.Fatalf("a release with a missing image: exit %d, want a failure naming the image and the pull error:\n%s", code, out)
	}
	if v := version(t, site); v != "2" {
		t.Fatalf("version after the failed release %q, want 2", v)
	}
	for _, p := range podsByService(t, c)["api"] {
		if strings.HasSuffix(p.Spec.Containers[0].Image, ":3") {
			t.Errorf("pod %s of the failed release is still there: the active release was not re-applied", p.Name)
		}
	}
	releases := e2etest.MustQuai(t, d.Socket, "releases", instance)
	if !regexp.MustCompile(`(?m)^\s*3\s+failed`).MatchString(releases) || !regexp.MustCompile(`(?m)^\*2\s+active`).MatchString(releases) {
		t.Errorf("releases after the failed one:\n%s", releases)
	}
	t.Logf("the failed release:\n%s", out)

	// The same with the database, a StatefulSet: it replaces its pod
	// before the new one runs, and a pod of a broken revision is never
	// replaced by the controller itself; re-applying the active release
	// must bring the database back, with its data.
	e2etest.WriteFile(t, dir, "compose.override.yaml", "services:\n  db:\n    image: 127.0.0.1:1/postgres:99\n")
	e2etest.SetVersion(t, dir, "2")
	out, code = e2etest.Quai(t, d.Socket, "up", dir, "--org", "e2e", "-y")
	if code == 0 || !strings.Contains(out, "postgres:99") || strings.Contains(out, "re-applying release 2 failed") {
		t.Fatalf("a database release with a missing image: exit %d, want a failure and release 2 re-applied:\n%s", code, out)
	}
	t.Logf("the failed database release:\n%s", out)
	if db := podsByService(t, c)["db"]; len(db) != 1 || !strings.HasSuffix(db[0].Spec.Containers[0].Image, "postgres:15") {
		t.Errorf("database pods after the failed release: %v, want db-0 of release 2 again", names(db))
	}
	eventually(t, "the user after the failed database release", func() error { return site.GetUser(ada) })

	if err := os.Remove(filepath.Join(dir, "compose.override.yaml")); err != nil {
		t.Fatal(err)
	}
	e2etest.SetVersion(t, dir, "1")

	// Rollback re-applies release 1's model: nothing is rebuilt.
	e2etest.MustQuai(t, d.Socket, "rollback", instance, "--to", "1")
	if v := version(t, site); v != "1" {
		t.Fatalf("version after the rollback %q, want 1", v)
	}
	eventually(t, "the user after the rollback", func() error { return site.GetUser(ada) })

	// Logs of every replica, prefixed with the pod; exec in the database.
	logs := e2etest.MustQuai(t, d.Socket, "logs", instance, "--tail", "200")
	// The prefix is padded to the widest replica name, as Compose does.
	if !regexp.MustCompile(`(?m)^db-0 +\| .*ready to accept connections`).MatchString(logs) {
		t.Errorf("logs lack the database's prefixed lines:\n%s", logs)
	}
	out = e2etest.MustQuai(t, d.Socket, "exec", instance, "db", "--", "pg_isready", "-U", "app", "-d", "users")
	if !strings.Contains(out, "accepting connections") {
		t.Errorf("exec pg_isready: %s", out)
	}
	if out, code := e2etest.Quai(t, d.Socket, "exec", instance, "db", "--", "sh", "-c", "exit 3"); code != 3 {
		t.Errorf("exec's exit code %d, want the command's 3: %s", code, out)
	}

	// A rolling restart replaces the API's pod, without a new release.
	before := names(podsByService(t, c)["api"])
	e2etest.MustQuai(t, d.Socket, "restart", instance, "api")
	after := names(podsByService(t, c)["api"])
	if len(after) != 1 || slices.Equal(before, after) {
		t.Errorf("api pods before the restart %v, after %v: want one new pod", before, after)
	}

	// A daemon restart touches nothing: same pods, still running.
	dbBefore := podsByService(t, c)["db"][0]
	d.Stop()
	d = daemontest.Start(t, daemontest.Options{DataDir: dataDir, Kube: kubeConfig(c), KeepInstances: true})
	st, err := d.Client.Status(ctx, instance)
	if err != nil || st.State != "running" {
		t.Fatalf("status after a daemon restart: %+v %v", st, err)
	}
	dbAfter := podsByService(t, c)["db"][0]
	if dbAfter.UID != dbBefore.UID || dbAfter.Status.ContainerStatuses[0].RestartCount != dbBefore.Status.ContainerStatuses[0].RestartCount {
		t.Errorf("the daemon restart replaced or restarted the database pod")
	}

	// Down scales to zero and keeps the claim; up brings the data back.
	e2etest.MustQuai(t, d.Socket, "down", instance)
	if p := podsByService(t, c); len(p) != 0 {
		t.Fatalf("pods after down: %v", p)
	}
	if st, err := d.Client.Status(ctx, instance); err != nil || st.State != "stopped" {
		t.Errorf("status after down: %+v %v", st, err)
	}
	claims(t, c, 1)
	e2etest.MustQuai(t, d.Socket, "up", dir, "--org", "e2e", "-y")
	eventually(t, "the user after down and up", func() error { return site.GetUser(ada) })

	// rm keeps the claim; a new install finds the data; rm --purge deletes it.
	out = e2etest.MustQuai(t, d.Socket, "rm", instance, "-y")
	if !strings.Contains(out, "volumes kept: dbdata-db-0") {
		t.Errorf("rm does not say the claim is kept:\n%s", out)
	}
	claims(t, c, 1)
	if _, err := d.Client.Status(ctx, instance); err == nil {
		t.Errorf("the instance is still known after rm")
	}
	e2etest.MustQuai(t, d.Socket, "up", dir, "--org", "e2e", "--runtime", "kubernetes", "-y")
	eventually(t, "the user after rm and a new install", func() error { return site.GetUser(ada) })
	e2etest.MustQuai(t, d.Socket, "rm", instance, "--purge", "-y")
	waitGone(t, c)
}

// ingressSite reaches the instance the way its users do: through the
// cluster's ingress controller, by the route's host.
func ingressSite(c *kubetest.Cluster) *e2etest.Site {
	return e2etest.NewSite(c.IngressHTTP, siteHost)
}

// version asks the API its version, retrying over the connections a
// rollout ends.
func version(t *testing.T, site *e2etest.Site) string {
	t.Helper()
	var v struct {
		Version string `json:"version"`
	}
	eventually(t, "the API's version", func() error {
		_, err := site.Do("GET", "/api/version", nil, &v)
		return err
	})
	return v.Version
}

// podsByService lists the instance's pods that are not terminating.
func podsByService(t *testing.T, c *kubetest.Cluster) map[string][]corev1.Pod {
	t.Helper()
	list, err := c.Client.CoreV1().Pods(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]corev1.Pod{}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out[p.Labels[render.LabelService]] = append(out[p.Labels[render.LabelService]], p)
		}
	}
	return out
}

func names(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

func claims(t *testing.T, c *kubetest.Cluster, want int) {
	t.Helper()
	list, err := c.Client.CoreV1().PersistentVolumeClaims(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(list.Items) != want {
		t.Fatalf("volume claims: %d %v, want %d", len(list.Items), err, want)
	}
}

// waitGone waits until the purge deleted the namespace and what was in it.
func waitGone(t *testing.T, c *kubetest.Cluster) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if _, err := c.Client.CoreV1().Namespaces().Get(context.Background(), namespace, metav1.GetOptions{}); err != nil {
			return
		}
	}
	t.Fatalf("namespace %s is still there two minutes after the purge", namespace)
}

// kubeConfig is the daemon's kubernetes runtime on the test cluster, with
// the ingress class of the harness's controller: the routes answer only
// if the setting reaches the Ingress objects.
func kubeConfig(c *kubetest.Cluster) daemon.KubeConfig {
	return daemon.KubeConfig{Kubeconfig: c.Kubeconfig, IngressClass: kubetest.IngressClass, StorageClass: kubetest.StorageClass}
}
