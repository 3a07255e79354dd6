package kube_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/kube"
	"github.com/quai-dev/quai/internal/runtime/kube/kubetest"
	"github.com/quai-dev/quai/internal/stack"
)

// httpClient opens a connection per request: one opened before kube-proxy
// programmed a Service would go elsewhere and must not be reused.
var httpClient = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func call(method, url, body string) (int, string, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := httpClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = res.Body.Close() }()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

// usersAPI deploys examples/users-api on the test cluster.
type usersAPI struct {
	t   *testing.T
	c   *kubetest.Cluster
	r   *kube.Runtime
	dir string
	id  stack.Identity
	rel int
}

func (u *usersAPI) model(version string) *stack.Model {
	return load(u.t, u.dir, "dev", map[string]string{"APP_VERSION": version})
}

// apply applies m as the next release and returns how long it took.
func (u *usersAPI) apply(m *stack.Model) (time.Duration, error) {
	u.rel++
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	t0 := time.Now()
	// The example's database password is a sealed secret: the engine
	// resolves it and hands its value to the runtime, as here.
	err := u.r.Apply(ctx, m, runtime.ApplyOptions{Release: u.rel, Secrets: map[string][]byte{"db_password": []byte("kube-e2e-db-password")},
		Emit: func(msg string) { u.t.Logf("release %d: %s", u.rel, msg) }})
	return time.Since(t0), err
}

// base is the API's Service address, reached from the host through kube-proxy.
func (u *usersAPI) base() string {
	u.t.Helper()
	svc, err := u.c.Client.CoreV1().Services(render.Namespace(u.id)).Get(context.Background(), "api", metav1.GetOptions{})
	if err != nil {
		u.t.Fatal(err)
	}
	return "http://" + svc.Spec.ClusterIP + ":8080"
}

func (u *usersAPI) version() string {
	u.t.Helper()
	var last string
	for range 50 {
		code, body, err := call(http.MethodGet, u.base()+"/api/version", "")
		if err == nil && code == http.StatusOK {
			var v struct{ Version string }
			if err := json.Unmarshal([]byte(body), &v); err != nil {
				u.t.Fatal(err)
			}
			return v.Version
		}
		last = fmt.Sprintf("%d %s %v", code, body, err)
		time.Sleep(200 * time.Millisecond)
	}
	u.t.Fatalf("the API does not answer through its Service: %s", last)
	return ""
}

// users lists the users, retrying while kube-proxy has not programmed a
// Service created by the last apply yet.
func (u *usersAPI) users() string {
	u.t.Helper()
	var last string
	for range 50 {
		code, body, err := call(http.MethodGet, u.base()+"/api/users", "")
		if err == nil && code == http.StatusOK {
			return body
		}
		last = fmt.Sprintf("%d %s %v", code, body, err)
		time.Sleep(200 * time.Millisecond)
	}
	u.t.Fatalf("list users: %s", last)
	return ""
}

func (u *usersAPI) handle(service string) runtime.Handle {
	u.t.Helper()
	hs, err := u.r.List(context.Background(), u.id)
	if err != nil {
		u.t.Fatal(err)
	}
	for _, h := range hs {
		if h.Service == service {
			return h
		}
	}
	u.t.Fatalf("no replica of %s in %v", service, hs)
	return runtime.Handle{}
}

// TestUsersAPI deploys the example project (a Go API, a static web
// front-end and PostgreSQL as a StatefulSet with a volume claim) and walks
// through an instance's life on Kubernetes: install, update, a broken
// release that fails while the previous one keeps serving, rollback, down
// and up with the data kept, logs, exec, removal.
func TestUsersAPI(t *testing.T) {
	c := shared.Require(t)
	r := newRuntime(t, c)
	u := &usersAPI{t: t, c: c, r: r, dir: filepath.Join(repoRoot(t), "examples", "users-api")}

	c.UsersAPIImages(t, u.dir, "1", "2")

	m1 := u.model("1")
	u.id = m1.Identity
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := r.Delete(ctx, u.id, true); err != nil {
			t.Errorf("purge: %v", err)
		}
		// Later tests find the cluster as it was.
		for ctx.Err() == nil {
			if _, err := c.Client.CoreV1().Namespaces().Get(ctx, render.Namespace(u.id), metav1.GetOptions{}); err != nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Errorf("namespace %s still there a minute after the purge", render.Namespace(u.id))
	})

	// Install.
	d, err := u.apply(m1)
	if err != nil {
		t.Fatalf("install: %v\nkubelet:\n%s", err, c.LogTail("kubelet", 40))
	}
	t.Logf("installed (3 services, PostgreSQL initialised on a new volume) in %s", d.Round(time.Millisecond))
	if v := u.version(); v != "1" {
		t.Fatalf("version = %q, want 1", v)
	}
	code, body, err := call(http.MethodPost, u.base()+"/api/users", `{"name":"Ada Lovelace","email":"ada@example.com"}`)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create a user: %d %s %v", code, body, err)
	}
	states, err := r.State(context.Background(), u.id)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range states {
		names = append(names, s.Service)
		if s.Ready != s.Desired || s.Desired != 1 || len(s.Replicas) != 1 || s.Release != 1 {
			t.Errorf("service %s: %+v, want 1/1 ready from release 1", s.Service, s)
			continue
		}
		rep := s.Replicas[0]
		if rep.Node != kubetest.NodeName || !rep.Status.Healthy() || rep.Handle.Runtime != kube.Name {
			t.Errorf("replica of %s: %+v", s.Service, rep)
		}
	}
	if !slices.Equal(names, []string{"api", "db", "web"}) {
		t.Errorf("services = %v", names)
	}

	// Update.
	m2 := u.model("2")
	if d, err = u.apply(m2); err != nil {
		t.Fatalf("update: %v", err)
	}
	t.Logf("update rolled out in %s", d.Round(time.Millisecond))
	if v := u.version(); v != "2" {
		t.Fatalf("version after the update = %q, want 2", v)
	}

	// A broken release: its image does not exist. The rollout fails with
	// the pod's reason, and the API keeps answering all along.
	var served, failed, lost atomic.Int64
	var failures []string
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		url := u.base() + "/api/version"
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			code, body, err := call(http.MethodGet, url, "")
			switch {
			case err == nil && code == http.StatusOK && strings.Contains(body, `"2"`):
				served.Add(1)
			case err != nil:
				// A connection kube-proxy did not translate (its rules are
				// rewritten as pods come and go) reached nothing; the
				// harness's network, not the rollout, lost it.
				lost.Add(1)
			default:
				failed.Add(1)
				mu.Lock()
				failures = append(failures, fmt.Sprintf("%s: %d %s %v", time.Now().Format("15:04:05.000"), code, body, err))
				mu.Unlock()
			}
		}
	}()
	for served.Load() < 3 && failed.Load()+lost.Load() < 10 {
		time.Sleep(50 * time.Millisecond)
	}
	// The missing image names a registry on loopback where nothing
	// listens, so the pull fails at once and no traffic leaves the machine.
	// Only api changes: a new APP_VERSION would also move web to a tag the
	// cluster does not hold, whose pull goes to Docker Hub and may fail
	// first, naming web.
	broken := u.model("2")
	broken.Service("api").Image = "127.0.0.1:1/users-api/api:3"
	d, err = u.apply(broken)
	close(stop)
	wg.Wait()
	if !errors.Is(err, runtime.ErrRolloutFailed) {
		t.Fatalf("a release with a missing image: %v, want ErrRolloutFailed", err)
	}
	if !strings.Contains(err.Error(), "service api") || !strings.Contains(err.Error(), "users-api/api:3") ||
		(!strings.Contains(err.Error(), "ErrImagePull") && !strings.Contains(err.Error(), "ImagePullBackOff")) {
		t.Errorf("the failure does not name the service, the image and the pull error: %v", err)
	}
	t.Logf("broken release refused in %s: %v", d.Round(time.Millisecond), err)
	if failed.Load() != 0 || served.Load() == 0 {
		t.Errorf("during the failed rollout the API answered %d requests and failed %d, want no failure: %v", served.Load(), failed.Load(), failures)
	}
	t.Logf("during the failed rollout the API answered %d requests with the previous version, %d connections were lost", served.Load(), lost.Load())
	if v := u.version(); v != "2" {
		t.Fatalf("version after the failed release = %q, want 2", v)
	}

	// Rollback: apply the last good release's model again.
	if d, err = u.apply(m2); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	t.Logf("rolled back in %s", d.Round(time.Millisecond))
	pods, err := c.Client.CoreV1().Pods(render.Namespace(u.id)).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if img := p.Spec.Containers[0].Image; strings.HasSuffix(img, ":3") && p.DeletionTimestamp == nil {
			t.Errorf("pod %s of the broken release is still there after the rollback", p.Name)
		}
	}

	// Down keeps the data; up again finds it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := r.Down(ctx, u.id); err != nil {
		t.Fatalf("down: %v", err)
	}
	if hs, err := r.List(ctx, u.id); err != nil || len(hs) != 0 {
		t.Fatalf("after down: %v %v, want no replicas", hs, err)
	}
	vols, err := r.Volumes(ctx, u.id)
	if err != nil || !slices.Equal(vols, []string{"dbdata-db-0"}) {
		t.Fatalf("volumes after down = %v %v, want [dbdata-db-0]", vols, err)
	}
	if d, err = u.apply(m2); err != nil {
		t.Fatalf("up after down: %v", err)
	}
	t.Logf("up after down in %s", d.Round(time.Millisecond))
	if !strings.Contains(u.users(), "ada@example.com") {
		t.Fatalf("the user is gone after down and up: %s", u.users())
	}

	// Logs of every replica, prefixed; exec in the database's pod.
	rc, err := r.InstanceLogs(ctx, u.id, runtime.LogOptions{Tail: 100})
	if err != nil {
		t.Fatal(err)
	}
	logs, err := io.ReadAll(rc)
	_ = rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logs), "db-0 | ") || !strings.Contains(string(logs), "database system is ready to accept connections") {
		t.Errorf("instance logs lack the database's lines:\n%s", logs)
	}
	db := u.handle("db")
	var out, errb bytes.Buffer
	code, err = r.Exec(ctx, db, runtime.ExecOptions{Cmd: []string{"pg_isready", "-U", "app", "-d", "users"}, Stdout: &out, Stderr: &errb})
	if err != nil || code != 0 || !strings.Contains(out.String(), "accepting connections") {
		t.Errorf("exec pg_isready: code %d, %v, stdout %q, stderr %q", code, err, out.String(), errb.String())
	}
	out.Reset()
	code, err = r.Exec(ctx, db, runtime.ExecOptions{Cmd: []string{"/bin/sh", "-c", "echo tty-$((40+2)); exit 3"}, TTY: true, Stdout: &out})
	if err != nil || code != 3 || !strings.Contains(out.String(), "tty-42") {
		t.Errorf("exec with a TTY: code %d, %v, output %q", code, err, out.String())
	}
	st, err := r.Inspect(ctx, db)
	if err != nil || !st.Healthy() {
		t.Errorf("inspect db: %+v %v", st, err)
	}

	// Removal without purge keeps the claim, and a new install finds the data.
	if err := r.Delete(ctx, u.id, false); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if vols, err := r.Volumes(ctx, u.id); err != nil || len(vols) != 1 {
		t.Fatalf("volumes after delete = %v %v, want the claim kept", vols, err)
	}
	if d, err = u.apply(m2); err != nil {
		t.Fatalf("install after delete: %v", err)
	}
	t.Logf("reinstalled over the kept volume in %s", d.Round(time.Millisecond))
	if !strings.Contains(u.users(), "ada@example.com") {
		t.Fatalf("the user is gone after delete and install: %s", u.users())
	}
}
