package process_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/quai-dev/quai/internal/datadir"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/process"
	"github.com/quai-dev/quai/internal/runtime/runtimetest"
	"github.com/quai-dev/quai/internal/stack"
)

// TestMain lets the test binary be what the runtime starts: the supervisor
// (ShimEnv) and the conformance suite's test app (runtimetest.AppEnv).
func TestMain(m *testing.M) {
	if process.IsShim() {
		os.Exit(process.ShimMain())
	}
	if os.Getenv(runtimetest.AppEnv) == "1" {
		runtimetest.AppMain()
	}
	if dir := os.Getenv(daemonEnv); dir != "" {
		os.Exit(shortLivedDaemon(dir))
	}
	os.Exit(m.Run())
}

// daemonEnv makes the test binary a daemon that starts one replica, prints
// its handle and exits, as a daemon that dies would.
const daemonEnv = "QUAI_TEST_SHORT_LIVED_DAEMON"

func shortLivedDaemon(dataDir string) int {
	exe, err := os.Executable()
	if err != nil {
		return 1
	}
	rt, err := process.New(process.Options{DataDir: dataDir, ShimPath: exe})
	if err != nil {
		return 1
	}
	rs := appSpec(exe, "web-1", nil)
	if svc := daemonServices[os.Getenv(daemonServiceEnv)]; svc != nil {
		rs = runtime.ReplicaSpec{Instance: dbID, Service: svc(), Replica: "db-1", Index: 1, Release: 1}
	}
	h, err := rt.Start(context.Background(), rs)
	if err != nil {
		_, _ = os.Stderr.WriteString(err.Error())
		return 1
	}
	if err := json.NewEncoder(os.Stdout).Encode(h); err != nil {
		return 1
	}
	return 0
}

var testID = stack.Identity{Project: "p", Env: "e"}

// appSpec runs the conformance test app (this binary) as a replica.
func appSpec(exe, replica string, mod func(*stack.Service)) runtime.ReplicaSpec {
	svc := &stack.Service{Name: "web", HealthPath: "/healthz", Process: &stack.Process{
		Command: []string{exe}, Env: map[string]string{runtimetest.AppEnv: "1", "APP_HOST": "127.0.0.1"}}}
	if mod != nil {
		mod(svc)
	}
	return runtime.ReplicaSpec{Instance: testID, Service: svc, Replica: replica, Index: 1, Release: 1}
}

func testExecutable(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// newRuntime returns a runtime over dataDir whose supervisors are this test
// binary, and makes sure no supervisor or app outlives the test.
func newRuntime(t *testing.T, dataDir string, mod func(*process.Options)) *process.Runtime {
	t.Helper()
	opts := process.Options{DataDir: dataDir, ShimPath: testExecutable(t), HealthInterval: 200 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&opts)
	}
	rt, err := process.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close() })
	return rt
}

// killLeftovers SIGKILLs every supervisor and app group recorded under
// dataDir: the safety net behind each test's own Stop/Remove.
func killLeftovers(t *testing.T, dataDir string) {
	t.Cleanup(func() {
		states, _ := filepath.Glob(filepath.Join(dataDir, "instances", "*", "replicas", "*", "state"))
		for _, p := range states {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			var st struct {
				ShimPid   int    `json:"shim_pid"`
				ShimStart uint64 `json:"shim_start"`
				AppPid    int    `json:"app_pid"`
				AppStart  uint64 `json:"app_start"`
			}
			if jsonUnmarshal(b, &st) != nil {
				continue
			}
			// A recorded pid is signalled only while it still names the
			// process that was recorded: on a busy machine pids are reused
			// within minutes, and a stale group id once killed an unrelated
			// daemon that had become that group's leader.
			if st.ShimPid > 0 && sameProcess(st.ShimPid, st.ShimStart) {
				t.Errorf("supervisor %d of %s was still running at the end of the test", st.ShimPid, filepath.Dir(p))
				_ = syscall.Kill(st.ShimPid, syscall.SIGKILL)
			}
			if st.AppPid > 0 && sameProcess(st.AppPid, st.AppStart) {
				_ = syscall.Kill(-st.AppPid, syscall.SIGKILL)
			}
		}
	})
}

// sameProcess reports whether pid is alive and started at start (clock
// ticks since boot, field 22 of /proc/PID/stat, as the runtime records it).
func sameProcess(pid int, start uint64) bool {
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || f[0] == "Z" {
		return false
	}
	return f[19] == strconv.FormatUint(start, 10)
}

func processExists(pid int) bool {
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z'
}

func TestConformance(t *testing.T) {
	exe := testExecutable(t)
	runtimetest.RunReplicaRunner(t, func(t *testing.T) runtimetest.Target {
		dataDir := t.TempDir()
		killLeftovers(t, dataDir)
		projectDir := t.TempDir()
		return runtimetest.Target{
			Runtime: newRuntime(t, dataDir, nil),
			Reopen:  func(t *testing.T) runtime.Runtime { return newRuntime(t, dataDir, nil) },
			Prepare: func(_ *testing.T, rs *runtime.ReplicaSpec) {
				rs.ProjectDir = projectDir
				rs.Service.Process = &stack.Process{
					Command: []string{exe},
					Env:     map[string]string{runtimetest.AppEnv: "1", "APP_HOST": "127.0.0.1"},
				}
			},
			AppCommand: []string{exe},
		}
	})
}

// worldSearchable makes dir and its parents up to the system temp dir
// enterable by the database's system user, as a real data directory
// (/var/lib/quai) is.
func worldSearchable(t *testing.T, dir string) {
	t.Helper()
	for d := dir; d != os.TempDir() && d != "/" && d != "."; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func pgService() *stack.Service {
	return &stack.Service{
		Name:  "db",
		Image: "docker.io/library/postgres:16.4-alpine",
		Environment: map[string]string{
			"POSTGRES_USER":     "app",
			"POSTGRES_PASSWORD": "s3cret pw",
			"POSTGRES_DB":       "appdb",
		},
		Mounts:   []stack.Mount{{Type: stack.MountVolume, Source: "dbdata", Target: "/var/lib/postgresql/data"}},
		Replicas: 1,
	}
}

func TestPostgres(t *testing.T) {
	if _, err := os.Stat("/usr/lib/postgresql/15/bin/postgres"); err != nil {
		t.Skip("PostgreSQL 15 server binaries are not installed (apt-get install postgresql)")
	}
	dataDir := t.TempDir()
	worldSearchable(t, dataDir)
	killLeftovers(t, dataDir)
	rt := newRuntime(t, dataDir, nil)
	id := stack.Identity{Org: "default", Project: "pg", Env: "test"}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	start := func(replica string) runtime.Handle {
		t.Helper()
		h, err := rt.Start(ctx, runtime.ReplicaSpec{Instance: id, Service: pgService(), Replica: replica, Index: 1, Release: 1})
		if err != nil {
			t.Fatalf("start postgres: %v", err)
		}
		t.Cleanup(func() {
			if err := rt.Remove(context.Background(), h); err != nil {
				t.Errorf("remove %s: %v", h.Replica, err)
			}
		})
		waitHealthy(t, rt, h)
		return h
	}
	connect := func(h runtime.Handle) *pgx.Conn {
		t.Helper()
		conn, err := pgx.Connect(ctx, "postgres://app:s3cret%20pw@"+h.Address+"/appdb?sslmode=disable")
		if err != nil {
			t.Fatalf("connect to %s: %v", h.Address, err)
		}
		t.Cleanup(func() { _ = conn.Close(context.Background()) })
		return conn
	}

	h := start("db-1")
	conn := connect(h)
	if _, err := conn.Exec(ctx, "CREATE TABLE notes (body text); INSERT INTO notes VALUES ('survives a restart')"); err != nil {
		t.Fatal(err)
	}
	if _, err := pgx.Connect(ctx, "postgres://app:wrong@"+h.Address+"/appdb?sslmode=disable"); err == nil {
		t.Error("a wrong password was accepted: host connections must need the password")
	}

	// Exec runs with the replica's environment (PGHOST, PGUSER, ...) as the
	// postgres user, so the server's own client works without arguments.
	if psql := "/usr/bin/psql"; fileExists(psql) {
		var out strings.Builder
		code, err := rt.Exec(ctx, h, runtime.ExecOptions{Cmd: []string{"psql", "-tAc", "SELECT count(*) FROM notes"}, Stdout: &out, Stderr: &out})
		if err != nil || code != 0 || strings.TrimSpace(out.String()) != "1" {
			t.Errorf("exec psql = %q, %d, %v; want 1", out.String(), code, err)
		}
	}

	_ = conn.Close(ctx)
	if err := rt.Stop(ctx, h, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := rt.Remove(ctx, h); err != nil {
		t.Fatal(err)
	}
	h2 := start("db-1")
	var body string
	if err := connect(h2).QueryRow(ctx, "SELECT body FROM notes").Scan(&body); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if body != "survives a restart" {
		t.Errorf("after restart the row reads %q", body)
	}
	vols, err := rt.Volumes(ctx, id)
	if err != nil || len(vols) != 1 || vols[0] != "dbdata" {
		t.Errorf("volumes = %v, %v; want [dbdata]", vols, err)
	}
	if os.Geteuid() == 0 {
		fi, err := os.Stat(filepath.Join(dataDir, "instances", id.Slug(), "volumes", "dbdata", "pgdata"))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid == 0 {
			t.Errorf("the data directory belongs to root; postgres must run as its own user")
		}
	}
}

func TestMissingDatabaseBinary(t *testing.T) {
	dataDir := t.TempDir()
	killLeftovers(t, dataDir)
	rt := newRuntime(t, dataDir, func(o *process.Options) { o.BinDirs = []string{t.TempDir()} })
	id := stack.Identity{Org: "default", Project: "pg", Env: "test"}
	for _, tc := range []struct {
		image, install string
	}{
		{"postgres:16", "apt-get install postgresql"},
		{"registry.example.com/library/redis:7-alpine", "apt-get install redis-server"},
		{"mariadb:11", "apt-get install mariadb-server"},
	} {
		t.Run(tc.image, func(t *testing.T) {
			svc := &stack.Service{Name: "db", Image: tc.image, Environment: map[string]string{
				"POSTGRES_PASSWORD": "x", "MYSQL_ROOT_PASSWORD": "x"}}
			_, err := rt.Start(context.Background(), runtime.ReplicaSpec{Instance: id, Service: svc, Replica: "db-1"})
			if !errors.Is(err, runtime.ErrMissingDependency) {
				t.Fatalf("start: %v, want ErrMissingDependency", err)
			}
			for _, want := range []string{tc.install, "docker runtime", "service db"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if hs, _ := rt.List(context.Background(), id); len(hs) != 0 {
				t.Errorf("a failed start left replicas behind: %+v", hs)
			}
		})
	}
}

func TestSupervisorRunsInItsOwnSession(t *testing.T) {
	dataDir := t.TempDir()
	killLeftovers(t, dataDir)
	rt := newRuntime(t, dataDir, nil)
	h, err := rt.Start(context.Background(), runtime.ReplicaSpec{
		Instance: stack.Identity{Project: "p", Env: "e"},
		Service: &stack.Service{Name: "web", Process: &stack.Process{
			Command: []string{testExecutable(t)}, Env: map[string]string{runtimetest.AppEnv: "1", "APP_HOST": "127.0.0.1"}}},
		Replica: "web-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Remove(context.Background(), h) })
	pid := atoi(strings.Split(h.ID, "-")[0])
	sid, err := getsid(pid)
	if err != nil {
		t.Fatal(err)
	}
	if sid != pid {
		t.Errorf("supervisor %d is in session %d; it must lead its own session to outlive the daemon", pid, sid)
	}
	if mySid, _ := getsid(os.Getpid()); mySid == sid {
		t.Errorf("supervisor shares the daemon's session %d", sid)
	}
}

func TestStartRejectsAServiceWithoutCommand(t *testing.T) {
	dataDir := t.TempDir()
	rt := newRuntime(t, dataDir, nil)
	_, err := rt.Start(context.Background(), runtime.ReplicaSpec{
		Instance: stack.Identity{Project: "p", Env: "e"},
		Service:  &stack.Service{Name: "web", Image: "nginx:1.27"},
		Replica:  "web-1",
	})
	if !errors.Is(err, runtime.ErrUnsupported) || !strings.Contains(err.Error(), "x-quai.process.command") {
		t.Errorf("start without a command: %v, want ErrUnsupported naming x-quai.process.command", err)
	}
}

func waitHealthy(t *testing.T, rt runtime.Runtime, h runtime.Handle) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := rt.Inspect(context.Background(), h)
		if err == nil && st.Healthy() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not healthy: %+v %v", h.Replica, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func httpGet(t *testing.T, h runtime.Handle, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + h.Address + path)
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

// startInShortLivedDaemon starts a replica from another process of this
// test binary that then exits, as a daemon that crashes or is upgraded
// does, and returns the replica's handle.
func startInShortLivedDaemon(t *testing.T, dataDir string) runtime.Handle {
	t.Helper()
	cmd := exec.Command(testExecutable(t))
	cmd.Env = append(os.Environ(), daemonEnv+"="+dataDir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("short-lived daemon: %v: %s", err, stderr.String())
	}
	var h runtime.Handle
	if err := json.Unmarshal(out, &h); err != nil {
		t.Fatalf("handle %q: %v", out, err)
	}
	return h
}

// TestSupervisorOutlivesDaemonProcess starts a replica from another process
// that then exits, as a daemon that crashes or is upgraded does; this
// process re-attaches to the same app.
func TestSupervisorOutlivesDaemonProcess(t *testing.T) {
	dataDir := t.TempDir()
	killLeftovers(t, dataDir)
	h := startInShortLivedDaemon(t, dataDir)
	rt := newRuntime(t, dataDir, nil)
	t.Cleanup(func() {
		if err := rt.Remove(context.Background(), h); err != nil {
			t.Errorf("remove: %v", err)
		}
	})
	if err := rt.Reattach(context.Background(), h); err != nil {
		t.Fatalf("reattach after the daemon exited: %v", err)
	}
	waitHealthy(t, rt, h)
	st, err := rt.Inspect(context.Background(), h)
	if err != nil || st.Restarts != 0 || st.MemoryBytes <= 0 {
		t.Errorf("status = %+v, %v; want no restart and a measured RSS", st, err)
	}
	if !strings.HasPrefix(httpGet(t, h, "/"), "ok pid=") {
		t.Error("the app does not serve after its daemon exited")
	}
}

func TestReattachRefusesARecycledPid(t *testing.T) {
	dataDir := t.TempDir()
	killLeftovers(t, dataDir)
	rt := newRuntime(t, dataDir, nil)
	h, err := rt.Start(context.Background(), appSpec(testExecutable(t), "web-1", nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Remove(context.Background(), h) })
	pid := strings.Split(h.ID, "-")[0]
	recycled := h
	recycled.ID = pid + "-1" // same pid, another process start time
	if err := rt.Reattach(context.Background(), recycled); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("reattach with a wrong start time: %v, want ErrNotFound", err)
	}
	newer := h
	newer.Version = runtime.HandleVersion + 1
	if err := rt.Reattach(context.Background(), newer); err == nil || !strings.Contains(err.Error(), "upgrade quai") {
		t.Errorf("reattach of a newer handle version: %v, want a refusal", err)
	}
}

func TestSecretsVolumesAndEnvironment(t *testing.T) {
	dataDir := t.TempDir()
	killLeftovers(t, dataDir)
	rt := newRuntime(t, dataDir, nil)
	rs := appSpec(testExecutable(t), "web-1", func(svc *stack.Service) {
		svc.Environment = map[string]string{
			"TOKEN_PATH":  "/run/secrets/api_key",
			"UPLOADS":     "/srv/uploads/images",
			"FROM_SVC":    "service",
			"OVERRIDDEN":  "service",
			"DATABASE_DB": "postgres://db:5432/x",
		}
		svc.Process.Env["OVERRIDDEN"] = "process"
		svc.Mounts = []stack.Mount{
			{Type: stack.MountVolume, Source: "uploads", Target: "/srv/uploads"},
			{Type: stack.MountBind, Source: "/etc", Target: "/host-etc"},
		}
	})
	rs.Env = map[string]string{"FROM_SPEC": "spec"}
	rs.Secrets = map[string][]byte{"api_key": []byte("k3y-in-a-file")}
	rs.SecretEnv = map[string][]byte{"APP_TOKEN": []byte("t0ken-in-the-env")}
	h, err := rt.Start(context.Background(), rs)
	if err != nil {
		t.Fatal(err)
	}
	removed := false
	t.Cleanup(func() {
		if !removed {
			_ = rt.Remove(context.Background(), h)
		}
	})
	waitHealthy(t, rt, h)
	env := func(name string) string { return httpGet(t, h, "/env?name="+name) }

	if got := env("APP_TOKEN"); got != "t0ken-in-the-env" {
		t.Errorf("APP_TOKEN (secret_env) = %q", got)
	}
	var out strings.Builder
	if code, err := rt.Exec(context.Background(), h, runtime.ExecOptions{Cmd: []string{"sh", "-c", "echo $APP_TOKEN"}, Stdout: &out, Stderr: &out}); err != nil || code != 0 || out.String() != "t0ken-in-the-env\n" {
		t.Errorf("exec sees APP_TOKEN = %q (%d, %v), want the secret_env value", out.String(), code, err)
	}
	// No secret value is written to the data dir: the files live in the
	// memory-backed run dir, and the supervisor reads the secret
	// environment from there.
	assertNotInTree(t, dataDir, "k3y-in-a-file", "t0ken-in-the-env")
	secretsDir := env("QUAI_SECRETS_DIR")
	runDir := datadir.RunDir(dataDir, os.Getenv, os.Geteuid())
	if !strings.HasPrefix(secretsDir, runDir+"/") || strings.HasPrefix(secretsDir, dataDir) {
		t.Errorf("QUAI_SECRETS_DIR = %s, want it under the run dir %s", secretsDir, runDir)
	}
	keyFile := filepath.Join(secretsDir, "api_key")
	if got := env("API_KEY_FILE"); got != keyFile {
		t.Errorf("API_KEY_FILE = %q, want %q", got, keyFile)
	}
	if got := env("TOKEN_PATH"); got != keyFile {
		t.Errorf("TOKEN_PATH (/run/secrets/api_key) = %q, want it rewritten to %q", got, keyFile)
	}
	b, err := os.ReadFile(keyFile)
	if err != nil || string(b) != "k3y-in-a-file" {
		t.Errorf("secret file = %q, %v", b, err)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	vol := filepath.Join(dataDir, "instances", testID.Slug(), "volumes", "uploads")
	if got := env("UPLOADS"); got != vol+"/images" {
		t.Errorf("UPLOADS = %q, want %q", got, vol+"/images")
	}
	if got := env("QUAI_VOLUME_UPLOADS"); got != vol {
		t.Errorf("QUAI_VOLUME_UPLOADS = %q, want %q", got, vol)
	}
	for name, want := range map[string]string{"FROM_SVC": "service", "OVERRIDDEN": "process", "FROM_SPEC": "spec", "QUAI_REPLICA": "web-1", "QUAI_SERVICE": "web"} {
		if got := env(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if got := env("PORT"); "127.0.0.1:"+got != h.Address {
		t.Errorf("PORT = %q but the handle's address is %s", got, h.Address)
	}
	if got := env(process.ShimEnv); got != "" {
		t.Errorf("the supervisor's %s leaked into the app: %q", process.ShimEnv, got)
	}
	if err := rt.Remove(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	removed = true
	if _, err := os.Stat(filepath.Dir(secretsDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the replica's run directory outlived it: %v", err)
	}
	_ = os.Remove(runDir)
}

// assertNotInTree fails when a file under dir holds one of values, or its
// base64.
func assertNotInTree(t *testing.T, dir string, values ...string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil //nolint:nilerr // a socket or a file the app just removed
		}
		for _, v := range values {
			if bytes.Contains(b, []byte(v)) || bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString([]byte(v)))) {
				t.Errorf("%s holds a secret value", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestExecWithTerminal(t *testing.T) {
	dataDir := t.TempDir()
	killLeftovers(t, dataDir)
	rt := newRuntime(t, dataDir, nil)
	h, err := rt.Start(context.Background(), appSpec(testExecutable(t), "web-1", nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Remove(context.Background(), h) })
	resize := make(chan runtime.TermSize, 1)
	resize <- runtime.TermSize{Rows: 33, Cols: 101}
	var out strings.Builder
	code, err := rt.Exec(context.Background(), h, runtime.ExecOptions{
		Cmd:    []string{"/bin/sh", "-c", "test -t 0 && echo on-a-tty; stty size; echo $QUAI_REPLICA; exit 4"},
		TTY:    true,
		Stdin:  strings.NewReader(""),
		Stdout: &out,
		Resize: resize,
	})
	if err != nil || code != 4 {
		t.Fatalf("exec = %d, %v; want exit 4", code, err)
	}
	for _, want := range []string{"on-a-tty", "33 101", "web-1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("terminal output %q lacks %q", out.String(), want)
		}
	}
}

func TestLogRotationThroughTheSupervisor(t *testing.T) {
	dataDir := t.TempDir()
	killLeftovers(t, dataDir)
	rt := newRuntime(t, dataDir, func(o *process.Options) { o.LogMaxSize = 1024; o.LogKeep = 2 })
	h, err := rt.Start(context.Background(), appSpec(testExecutable(t), "web-1", nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Remove(context.Background(), h) })
	waitHealthy(t, rt, h)
	writeLogLines(t, rt, h, "rotation-line-", 60)
	files, _ := filepath.Glob(filepath.Join(dataDir, "instances", testID.Slug(), "logs", "web", "web-1.log*"))
	if len(files) != 3 {
		t.Errorf("log files = %v, want web-1.log, web-1.log.1 and web-1.log.2", files)
	}
}

// writeLogLines makes the replica print n lines prefix<i> and waits until
// its logs show the last one.
func writeLogLines(t *testing.T, rt runtime.Runtime, h runtime.Handle, prefix string, n int) {
	t.Helper()
	for i := range n {
		httpGet(t, h, "/log?msg="+prefix+itoa(i))
	}
	last := prefix + itoa(n-1)
	var got string
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(got, last) {
		rc, err := rt.(runtime.Logger).Logs(context.Background(), h, runtime.LogOptions{Tail: 2})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		_ = rc.Close()
		got = string(b)
		if time.Now().After(deadline) {
			t.Fatalf("last log lines = %q, want %s", got, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLogsOutliveReplicasWithinABound replaces a replica again and again
// (as restarts and releases do), each writing more than its rotation
// keeps: the removed replicas' logs stay readable, and the service's log
// files stay within the bound, the running replica's share plus one
// replica's worth for the removed ones.
func TestLogsOutliveReplicasWithinABound(t *testing.T) {
	dataDir := t.TempDir()
	killLeftovers(t, dataDir)
	const maxSize, keep = 2048, 2
	rt := newRuntime(t, dataDir, func(o *process.Options) { o.LogMaxSize = maxSize; o.LogKeep = keep })
	ctx := context.Background()
	var h runtime.Handle
	const rounds = 5
	for i := 1; i <= rounds; i++ {
		var err error
		if h, err = rt.Start(ctx, appSpec(testExecutable(t), "web-r"+itoa(i)+"-1", nil)); err != nil {
			t.Fatal(err)
		}
		waitHealthy(t, rt, h)
		writeLogLines(t, rt, h, "round-"+itoa(i)+"-line-", 100)
		if i < rounds {
			if err := rt.Remove(ctx, h); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(func() { _ = rt.Remove(context.Background(), h) })

	dir := filepath.Join(dataDir, "instances", testID.Slug(), "logs", "web")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	var names []string
	for _, e := range ents {
		fi, _ := e.Info()
		total += fi.Size()
		names = append(names, e.Name())
	}
	bound := int64(2 * maxSize * (keep + 1))
	t.Logf("%d replicas wrote %d lines each; the service's log files take %d bytes (bound %d): %v", rounds, 100, total, bound, names)
	if total > bound {
		t.Errorf("the service's logs take %d bytes, over %d: %v", total, bound, names)
	}
	kept, err := rt.KeptLogs(ctx, testID)
	if err != nil {
		t.Fatal(err)
	}
	var keptNames []string
	for _, k := range kept {
		keptNames = append(keptNames, k.Replica)
		if k.Service != "web" || k.Release != atoi(strings.TrimPrefix(strings.TrimSuffix(k.Replica, "-1"), "web-r")) {
			t.Errorf("kept handle %+v: want service web and the release of its name", k)
		}
	}
	if !slices.Contains(keptNames, "web-r4-1") || slices.Contains(keptNames, "web-r5-1") || slices.Contains(keptNames, "web-r1-1") {
		t.Errorf("kept logs of %v: want the newest removed replica, not the running one nor the oldest", keptNames)
	}
	// A removed replica's lines, with the running one's, after a restart of
	// the runtime (a daemon restart) too.
	rt2 := newRuntime(t, dataDir, nil)
	for _, r := range []runtime.Handle{{Instance: testID, Service: "web", Replica: "web-r4-1"}, h} {
		// The removed one's last line says it was stopped.
		rc, err := rt2.Logs(ctx, r, runtime.LogOptions{Tail: 2})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		_ = rc.Close()
		if want := "round-" + strings.TrimSuffix(strings.TrimPrefix(r.Replica, "web-r"), "-1") + "-line-99\n"; !strings.Contains(string(b), want) {
			t.Errorf("last lines of %s = %q, want %q among them", r.Replica, b, want)
		}
	}
}

// redisCmd sends one command in RESP and returns the first reply line.
func redisCmd(t *testing.T, addr string, args ...string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial redis: %v", err)
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	b.WriteString("*" + itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("redis %v: %v", args, err)
	}
	if strings.HasPrefix(line, "$") && line != "$-1\r\n" {
		line, err = r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
	}
	return strings.TrimSpace(line)
}

func TestRedis(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server)")
	}
	dataDir := t.TempDir()
	worldSearchable(t, dataDir)
	killLeftovers(t, dataDir)
	rt := newRuntime(t, dataDir, nil)
	id := stack.Identity{Project: "cache", Env: "test"}
	svc := &stack.Service{Name: "cache", Image: "redis:7-alpine", Command: []string{"redis-server", "--appendonly", "yes"},
		Mounts: []stack.Mount{{Type: stack.MountVolume, Source: "cachedata", Target: "/data"}}}
	start := func() runtime.Handle {
		t.Helper()
		h, err := rt.Start(context.Background(), runtime.ReplicaSpec{Instance: id, Service: svc, Replica: "cache-1"})
		if err != nil {
			t.Fatalf("start redis: %v", err)
		}
		t.Cleanup(func() { _ = rt.Remove(context.Background(), h) })
		waitHealthy(t, rt, h)
		return h
	}
	h := start()
	if got := redisCmd(t, h.Address, "SET", "greeting", "persisted"); got != "+OK" {
		t.Fatalf("SET = %q", got)
	}
	// The stack's own server options (--appendonly yes) are kept, and the
	// data lands in the volume.
	vol := filepath.Join(dataDir, "instances", id.Slug(), "volumes", "cachedata")
	if aof, _ := filepath.Glob(filepath.Join(vol, "appendonly*")); len(aof) == 0 {
		t.Errorf("no append-only file in the cachedata volume")
	}
	if fi, err := os.Stat(vol); err == nil && os.Geteuid() == 0 && fi.Sys().(*syscall.Stat_t).Uid == 0 {
		t.Errorf("the redis volume belongs to root; redis-server must run as the redis user")
	}
	if err := rt.Stop(context.Background(), h, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := rt.Remove(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	h = start()
	if got := redisCmd(t, h.Address, "GET", "greeting"); got != "persisted" {
		t.Errorf("after a restart GET = %q, want persisted", got)
	}
}

func TestStartFailsCleanlyWhenTheCommandCannotRun(t *testing.T) {
	dataDir := t.TempDir()
	killLeftovers(t, dataDir)
	rt := newRuntime(t, dataDir, nil)
	notExec := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Executable, but execve fails: only the supervisor can find out.
	badInterp := filepath.Join(t.TempDir(), "bad-interpreter")
	if err := os.WriteFile(badInterp, []byte("#!/no/such/interpreter\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, cmd := range map[string][]string{
		"bad interpreter": {badInterp},
		"not in PATH":     {"no-such-command-anywhere"},
		"not executable":  {notExec},
		"control: runs":   {"/bin/sh", "-c", "exit 0"},
	} {
		t.Run(name, func(t *testing.T) {
			rs := appSpec(testExecutable(t), "web-1", func(svc *stack.Service) {
				svc.Process.Command = cmd
				svc.Restart = "no"
			})
			h, err := rt.Start(context.Background(), rs)
			if name == "control: runs" {
				if err != nil {
					t.Fatalf("start: %v", err)
				}
				_ = rt.Remove(context.Background(), h)
				return
			}
			if err == nil {
				_ = rt.Remove(context.Background(), h)
				t.Fatal("start succeeded")
			}
			if !strings.Contains(err.Error(), cmd[0]) {
				t.Errorf("error %q does not name the command", err)
			}
			if hs, _ := rt.List(context.Background(), testID); len(hs) != 0 {
				t.Errorf("a failed start left %d replicas behind", len(hs))
			}
		})
	}
}

func mariadbService() *stack.Service {
	return &stack.Service{Name: "db", Image: "mariadb:11", Environment: map[string]string{
		"MARIADB_ROOT_PASSWORD": "r00t", "MARIADB_DATABASE": "shop", "MARIADB_USER": "shop", "MARIADB_PASSWORD": "it's secret"},
		Mounts: []stack.Mount{{Type: stack.MountVolume, Source: "dbdata", Target: "/var/lib/mysql"}}}
}

func skipWithoutMariaDB(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("mariadbd"); err != nil {
		if _, err := os.Stat("/usr/sbin/mariadbd"); err != nil {
			t.Skip("mariadbd is not installed (apt-get install mariadb-server)")
		}
	}
}

// mariadbSQL runs q as the stack's user, over TCP with its password,
// through the server's own client run by Exec.
func mariadbSQL(t *testing.T, rt runtime.Runtime, h runtime.Handle, q string) string {
	t.Helper()
	var out, errb strings.Builder
	port := strings.TrimPrefix(h.Address, "127.0.0.1:")
	code, err := rt.(runtime.Execer).Exec(context.Background(), h, runtime.ExecOptions{
		Cmd:    []string{"mariadb", "--protocol=tcp", "-h127.0.0.1", "-P" + port, "-ushop", "-pit's secret", "-N", "-e", q, "shop"},
		Stdout: &out, Stderr: &errb,
	})
	if err != nil || code != 0 {
		t.Fatalf("%s: exit %d, %v: %s", q, code, err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

func TestMariaDB(t *testing.T) {
	skipWithoutMariaDB(t)
	dataDir := t.TempDir()
	worldSearchable(t, dataDir)
	killLeftovers(t, dataDir)
	rt := newRuntime(t, dataDir, nil)
	id := stack.Identity{Project: "shop", Env: "test"}
	svc := mariadbService()
	start := func() runtime.Handle {
		t.Helper()
		h, err := rt.Start(context.Background(), runtime.ReplicaSpec{Instance: id, Service: svc, Replica: "db-1"})
		if err != nil {
			t.Fatalf("start mariadb: %v", err)
		}
		t.Cleanup(func() { _ = rt.Remove(context.Background(), h) })
		waitHealthy(t, rt, h)
		return h
	}
	sql := func(h runtime.Handle, q string) string { t.Helper(); return mariadbSQL(t, rt, h, q) }
	h := start()
	sql(h, "CREATE TABLE orders (id int); INSERT INTO orders VALUES (42)")
	if err := rt.Stop(context.Background(), h, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := rt.Remove(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	h = start()
	if got := sql(h, "SELECT id FROM orders"); got != "42" {
		t.Errorf("after a restart SELECT = %q, want 42", got)
	}
}
