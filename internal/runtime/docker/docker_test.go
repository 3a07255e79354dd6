package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/runtimetest"
	"github.com/quai-dev/quai/internal/stack"
)

func TestConformance(t *testing.T) {
	r0 := newRuntime(t, Options{})
	img := testAppImage(t, r0)
	runtimetest.RunReplicaRunner(t, func(t *testing.T) runtimetest.Target {
		state := t.TempDir()
		r := newRuntime(t, Options{StateDir: state})
		return runtimetest.Target{
			Runtime: r,
			Reopen: func(t *testing.T) runtime.Runtime {
				return newRuntime(t, Options{StateDir: state})
			},
			Prepare: func(_ *testing.T, rs *runtime.ReplicaSpec) {
				rs.Service.Image = img
			},
			AppCommand: []string{"/app"},
		}
	})
}

// fixture starts replicas and removes them (and the instances' volumes)
// when the test ends.
type fixture struct {
	t   *testing.T
	r   *Runtime
	ids []stack.Identity
}

func newFixture(t *testing.T, r *Runtime) *fixture {
	f := &fixture{t: t, r: r}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, id := range f.ids {
			hs, err := r.List(ctx, id)
			if err != nil {
				t.Errorf("cleanup: %v", err)
			}
			for _, h := range hs {
				if err := r.Remove(ctx, h); err != nil {
					t.Errorf("cleanup: %v", err)
				}
			}
			if err := r.RemoveVolumes(ctx, id); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return f
}

func (f *fixture) start(spec runtime.ReplicaSpec) runtime.Handle {
	f.t.Helper()
	if !slices.Contains(f.ids, spec.Instance) {
		f.ids = append(f.ids, spec.Instance)
	}
	if spec.Index == 0 {
		spec.Index = 1
	}
	if spec.Release == 0 {
		spec.Release = 1
	}
	if spec.Service.Hash == "" {
		spec.Service.Hash = "h1"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h, err := f.r.Start(ctx, spec)
	if err != nil {
		f.t.Fatalf("start %s: %v", spec.Replica, err)
	}
	return h
}

func (f *fixture) waitHealthy(h runtime.Handle) runtime.Status {
	f.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		st, err := f.r.Inspect(context.Background(), h)
		if err == nil && st.Healthy() && (st.Health == runtime.HealthHealthy || st.Health == runtime.HealthNone) {
			return st
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s not healthy: %+v, %v", h.Replica, st, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (f *fixture) exec(h runtime.Handle, cmd ...string) (int, string) {
	f.t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, err := f.r.Exec(ctx, h, runtime.ExecOptions{Cmd: cmd, Stdout: &out, Stderr: &out})
	if err != nil {
		f.t.Fatalf("exec %v in %s: %v", cmd, h.Replica, err)
	}
	return code, out.String()
}

func appSpec(id stack.Identity, img, service, replica string) runtime.ReplicaSpec {
	return runtime.ReplicaSpec{
		Instance: id, Replica: replica,
		Service: &stack.Service{Name: service, Image: img, Expose: []int{8080}, HealthPath: "/healthz", Replicas: 1},
	}
}

func pgSpec(id stack.Identity, img, replica string) runtime.ReplicaSpec {
	return runtime.ReplicaSpec{
		Instance: id, Replica: replica,
		Service: &stack.Service{
			Name: "db", Image: img, Ports: []stack.Port{{Target: 5432}}, Replicas: 1,
			Environment: map[string]string{"POSTGRES_USER": "app", "POSTGRES_DB": "app", "POSTGRES_PASSWORD_FILE": "/run/secrets/db_password"},
			Mounts:      []stack.Mount{{Type: stack.MountVolume, Source: "pgdata", Target: "/var/lib/postgresql/data"}},
			Secrets:     []string{"db_password"},
		},
		Secrets: map[string][]byte{"db_password": []byte("s3cret-pw")},
	}
}

// TestInstancesAreIsolated runs a database in one organization's instance
// and shows that a replica of the same instance reaches it by its service
// name while a replica of another organization's instance can reach it
// neither by name nor by address.
func TestInstancesAreIsolated(t *testing.T) {
	r := newRuntime(t, Options{})
	app, pg := testAppImage(t, r), postgresImage(t, r)
	f := newFixture(t, r)
	acme := stack.Identity{Org: "acme", Project: "iso", Env: "prod"}
	globex := stack.Identity{Org: "globex", Project: "iso", Env: "prod"}
	db := f.start(pgSpec(acme, pg, "db-1"))
	acmeWeb := f.start(appSpec(acme, app, "web", "web-1"))
	globexWeb := f.start(appSpec(globex, app, "web", "web-1"))
	f.waitHealthy(acmeWeb)
	f.waitHealthy(globexWeb)

	deadline := time.Now().Add(60 * time.Second)
	for {
		code, out := f.exec(acmeWeb, "/app", "dial", "db:5432")
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a replica of the same instance cannot reach db:5432: %s", out)
		}
		time.Sleep(300 * time.Millisecond)
	}
	ins, err := r.cli.ContainerInspect(context.Background(), db.ID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ep := ins.Container.NetworkSettings.Networks[networkName(acme)]
	if ep == nil || !ep.IPAddress.IsValid() {
		t.Fatalf("the database has no address on %s: %+v", networkName(acme), ins.Container.NetworkSettings.Networks)
	}
	dbIP := ep.IPAddress.String()
	if code, out := f.exec(acmeWeb, "/app", "dial", net.JoinHostPort(dbIP, "5432")); code != 0 {
		t.Fatalf("control: the same instance cannot reach the database at %s: %s", dbIP, out)
	}
	for _, target := range []string{"db:5432", net.JoinHostPort(dbIP, "5432")} {
		if code, out := f.exec(globexWeb, "/app", "dial", target); code == 0 {
			t.Errorf("a replica of %s reached %s's database at %s: %s", globex.Name(), acme.Name(), target, out)
		}
	}
}

// TestPostgresDataSurvivesReplacement writes a row, replaces the database
// container and reads the row back through the new container.
func TestPostgresDataSurvivesReplacement(t *testing.T) {
	r := newRuntime(t, Options{})
	pg := postgresImage(t, r)
	f := newFixture(t, r)
	id := stack.Identity{Org: "default", Project: "pgdata", Env: "test"}
	ctx := context.Background()

	h1 := f.start(pgSpec(id, pg, "db-1"))
	conn := pgConnect(t, h1)
	if _, err := conn.Exec(ctx, "CREATE TABLE notes (body text); INSERT INTO notes VALUES ('kept')"); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close(ctx)
	if err := r.Stop(ctx, h1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(ctx, h1); err != nil {
		t.Fatal(err)
	}
	vols, err := r.Volumes(ctx, id)
	if err != nil || !slices.Equal(vols, []string{volumeName(id, "pgdata")}) {
		t.Fatalf("volumes after removing the replica = %v, %v; want the data volume kept", vols, err)
	}
	h2 := f.start(pgSpec(id, pg, "db-2"))
	if h2.ID == h1.ID || h2.Address == "" {
		t.Fatalf("the replacement is not a new container: %+v", h2)
	}
	conn = pgConnect(t, h2)
	defer func() { _ = conn.Close(ctx) }()
	var body string
	if err := conn.QueryRow(ctx, "SELECT body FROM notes").Scan(&body); err != nil || body != "kept" {
		t.Fatalf("the new container reads %q, %v; want kept", body, err)
	}
}

// pgConnect connects to the database replica through its published address
// with the password from its secret, waiting for the server to accept.
func pgConnect(t *testing.T, h runtime.Handle) *pgx.Conn {
	t.Helper()
	dsn := fmt.Sprintf("postgres://app:s3cret-pw@%s/app?sslmode=disable&connect_timeout=3", h.Address)
	deadline := time.Now().Add(90 * time.Second)
	for {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			return conn
		}
		if time.Now().After(deadline) {
			t.Fatalf("connect to %s: %v", h.Address, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestHostConfigFromStack checks that limits, user, read-only root,
// capabilities, restart policy, labels, names and the published port are
// what the stack says, and that secrets are files, not environment values.
func TestHostConfigFromStack(t *testing.T) {
	r := newRuntime(t, Options{})
	img := testAppImage(t, r)
	f := newFixture(t, r)
	id := stack.Identity{Org: "acme", Project: "limits", Env: "staging"}
	spec := appSpec(id, img, "api", "api-r3-1")
	spec.Release = 3
	spec.Service.Hash = "abc123"
	spec.Service.Resources = stack.Resources{MilliCPU: 500, MemoryBytes: 64 << 20}
	spec.Service.User = "1234:1234"
	spec.Service.ReadOnly = true
	spec.Service.CapDrop = []string{"ALL"}
	spec.Service.CapAdd = []string{"NET_BIND_SERVICE"}
	spec.Service.Restart = "on-failure:4"
	spec.Service.Secrets = []string{"value"}
	spec.Service.Environment = map[string]string{"DATA_DIR": "/run/secrets", "PLAIN": "visible"}
	spec.Secrets = map[string][]byte{"value": []byte("top-secret-value")}
	spec.SecretEnv = map[string][]byte{"APP_TOKEN": []byte("env-secret-value")}
	h := f.start(spec)
	f.waitHealthy(h)

	ins, err := r.cli.ContainerInspect(context.Background(), h.ID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := ins.Container
	hc := c.HostConfig
	if hc.NanoCPUs != 500_000_000 || hc.Memory != 64<<20 {
		t.Errorf("limits = %d nano-CPUs, %d bytes; want 0.5 CPU and 64 MiB", hc.NanoCPUs, hc.Memory)
	}
	if !hc.ReadonlyRootfs || !slices.Equal(hc.CapDrop, []string{"ALL"}) || !slices.ContainsFunc(hc.CapAdd, func(c string) bool { return strings.TrimPrefix(c, "CAP_") == "NET_BIND_SERVICE" }) || hc.Privileged {
		t.Errorf("security = read-only %v, drop %v, add %v, privileged %v", hc.ReadonlyRootfs, hc.CapDrop, hc.CapAdd, hc.Privileged)
	}
	if hc.RestartPolicy.Name != "on-failure" || hc.RestartPolicy.MaximumRetryCount != 4 {
		t.Errorf("restart policy = %+v, want on-failure:4", hc.RestartPolicy)
	}
	if c.Config.User != "1234:1234" {
		t.Errorf("user = %q", c.Config.User)
	}
	if want := "/quai-acme-limits-staging-api-r3-1"; c.Name != want {
		t.Errorf("container name = %q, want %q", c.Name, want)
	}
	for k, want := range map[string]string{
		runtime.LabelOrg: "acme", runtime.LabelProject: "limits", runtime.LabelEnv: "staging", runtime.LabelInstance: "acme/limits-staging",
		runtime.LabelService: "api", runtime.LabelReplica: "api-r3-1", runtime.LabelRelease: "3", runtime.LabelHash: "abc123",
	} {
		if got := c.Config.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	if !strings.HasPrefix(h.Address, "127.0.0.1:") {
		t.Errorf("address = %q, want a port on 127.0.0.1", h.Address)
	}
	for _, e := range c.Config.Env {
		if strings.Contains(e, "top-secret-value") {
			t.Errorf("a secret value is in the container's environment: %s", e)
		}
	}
	if !slices.Contains(c.Config.Env, "APP_TOKEN=env-secret-value") {
		t.Errorf("environment lacks the x-quai.secret_env variable APP_TOKEN")
	}
	if !slices.Contains(c.Config.Env, "PLAIN=visible") {
		t.Errorf("environment %v lacks PLAIN=visible", c.Config.Env)
	}
	if body := httpGet(t, h, "/read"); body != "top-secret-value" {
		t.Errorf("/run/secrets/value reads %q, want the secret", body)
	}
	var mounted bool
	for _, m := range c.Mounts {
		if m.Destination == "/run/secrets/value" {
			mounted = !m.RW
		}
	}
	if !mounted {
		t.Errorf("the secret is not mounted read-only at /run/secrets/value: %+v", c.Mounts)
	}
	data, err := DecodeHandleData(h)
	if err != nil || !strings.HasPrefix(data.ImageID, "sha256:") || data.Image != img {
		t.Errorf("handle data = %+v, %v; want the image and its id", data, err)
	}

	dir := r.secretsDir(id, "api-r3-1")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("secrets dir: %v", err)
	}
	// The files are in the memory-backed run dir, not the state dir, and
	// belong to the service's user alone when the daemon can give them.
	if !strings.HasPrefix(dir, r.opts.RunDir+"/") || strings.HasPrefix(dir, r.opts.StateDir) {
		t.Errorf("secrets dir %s is not under the run dir %s", dir, r.opts.RunDir)
	}
	if fi, err := os.Stat(filepath.Join(dir, "value")); err != nil {
		t.Error(err)
	} else if st := fi.Sys().(*syscall.Stat_t); os.Geteuid() == 0 && (fi.Mode().Perm() != 0o400 || st.Uid != 1234) {
		t.Errorf("secret file mode %v owner %d, want 0400 and the service's user 1234", fi.Mode().Perm(), st.Uid)
	}
	t.Cleanup(func() { _ = os.RemoveAll(r.opts.RunDir) })
	if err := r.Remove(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the secrets dir outlives the replica: %v", err)
	}
	if _, err := r.cli.NetworkInspect(context.Background(), networkName(id), client.NetworkInspectOptions{}); err == nil {
		t.Errorf("the instance network outlives the instance's last replica")
	}
}

func httpGet(t *testing.T, h runtime.Handle, path string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + h.Address + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s %v", path, resp.Status, b, err)
	}
	return string(b)
}

// TestUnreachableEngine checks the error users see when no engine answers.
func TestUnreachableEngine(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "no-engine.sock")
	_, err := New(context.Background(), Options{Host: "unix://" + sock, StateDir: t.TempDir()})
	if !errors.Is(err, runtime.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	for _, want := range []string{"unix://" + sock, "dockerd", "DOCKER_HOST"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	_, err = New(context.Background(), Options{Host: "tcp://" + addr, StateDir: t.TempDir()})
	if !errors.Is(err, runtime.ErrUnavailable) || !strings.Contains(err.Error(), "tcp://"+addr) {
		t.Errorf("tcp: err = %v, want ErrUnavailable naming tcp://%s", err, addr)
	}
	if _, err := New(context.Background(), Options{Host: "ftp://x", StateDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "unix://, tcp:// or ssh://") {
		t.Errorf("unsupported scheme: err = %v", err)
	}
}

// TestNegotiatesAPIVersion shows which API version the client settled on.
func TestNegotiatesAPIVersion(t *testing.T) {
	r := newRuntime(t, Options{})
	v, err := r.cli.ServerVersion(context.Background(), client.ServerVersionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.APIVersion() != v.APIVersion && !strings.HasPrefix(client.MaxAPIVersion, r.APIVersion()) {
		t.Errorf("client speaks API %s, the engine %s", r.APIVersion(), v.APIVersion)
	}
	t.Logf("engine %s (API %s, minimum %s); client API %s (supports %s..%s)",
		v.Version, v.APIVersion, v.MinAPIVersion, r.APIVersion(), client.MinAPIVersion, client.MaxAPIVersion)
}
