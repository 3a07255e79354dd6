// Package processe2e tests quai end to end on its default runtime, the
// process runtime embedded in the daemon: the users-api example (Go API,
// static frontend, PostgreSQL from the host's server binaries) deployed
// through the CLI and an in-process daemon, from first install to purge.
// Without the PostgreSQL binaries the test skips, except in CI (CI=true),
// where it fails.
package processe2e

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/test/e2e/e2etest"
)

func TestMain(m *testing.M) { daemontest.Main(m) }

const (
	instance = "users-api-dev"
	siteHost = "users-api.dev.localhost"
	// pgBin is where Debian installs the PostgreSQL server the process
	// runtime runs for the example's postgres:15 service.
	pgBin = "/usr/lib/postgresql/15/bin"
)

// needPostgres skips the test without the host's PostgreSQL server, or
// fails it in CI, where it is installed.
func needPostgres(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("deploys the example with PostgreSQL")
	}
	for _, b := range []string{"postgres", "initdb"} {
		if _, err := os.Stat(filepath.Join(pgBin, b)); err != nil {
			msg := "no PostgreSQL server: " + err.Error() + " (run scripts/deps.sh as root to install it)"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// replicaKey is what identifies a running replica: a restarted or replaced
// one differs in at least one field.
type replicaKey struct {
	service, replica, address, started string
	release, restarts                  int
}

// statusJSON runs `quai status --json` and returns the report with its
// running replicas.
func statusJSON(t *testing.T, socket string) (engine.InstanceStatus, map[replicaKey]bool) {
	t.Helper()
	out := e2etest.MustQuai(t, socket, "status", instance, "--json")
	var st engine.InstanceStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("quai status --json: %v\n%s", err, out)
	}
	reps := map[replicaKey]bool{}
	for _, s := range st.Services {
		for _, r := range s.Replicas {
			if r.Status.Started.IsZero() {
				t.Fatalf("replica %s of %s reports no start time: %+v", r.Replica, s.Service, r)
			}
			reps[replicaKey{s.Service, r.Replica, r.Address, r.Status.Started.UTC().Format(time.RFC3339Nano), r.Release, r.Status.Restarts}] = true
		}
	}
	return st, reps
}

// replicaAddr is the address of the only replica of service.
func replicaAddr(t *testing.T, st engine.InstanceStatus, service string) string {
	t.Helper()
	for _, s := range st.Services {
		if s.Service == service && len(s.Replicas) == 1 && s.Replicas[0].Address != "" {
			return s.Replicas[0].Address
		}
	}
	t.Fatalf("status %+v: want one replica of %s with an address", st.Services, service)
	return ""
}

// TestUsersAPIOnProcess deploys the example with `quai up DIR --env dev`
// on the default runtime and checks, in order: the page and the API answer
// through the proxy and a user can be created; ten updates (a new
// APP_VERSION in .env each) under concurrent load through the proxy fail
// no request; a rollback returns to the previous version with the data;
// while no daemon runs the replicas keep answering, and a new daemon on the
// same data directory re-attaches to the same replicas and routes to them;
// `quai rm` stops the instance but keeps its database, which a new up
// finds; `quai rm --purge -y` deletes it.
func TestUsersAPIOnProcess(t *testing.T) {
	needPostgres(t)
	dir := e2etest.Project(t, nil)
	e2etest.SetVersion(t, dir, "1")
	opts := daemontest.Options{DataDir: e2etest.DataDir(t), HealthTimeout: 2 * time.Minute, DrainTimeout: 5 * time.Second}
	d1opts := opts
	d1opts.KeepInstances = true
	d1 := daemontest.Start(t, d1opts)

	out := e2etest.MustQuai(t, d1.Socket, "up", dir, "--env", "dev", "-y")
	if !strings.Contains(out, siteHost) {
		t.Errorf("up does not print the site's URL:\n%s", out)
	}
	site := e2etest.NewSite(d1.ProxyHTTPAddr(), siteHost)
	if err := site.Page(); err != nil {
		t.Fatal(err)
	}
	if v := site.Version(t); v != "1" {
		t.Fatalf("version %q, want 1", v)
	}
	alice := site.CreateUser(t, "alice")
	if us := site.Users(t); len(us) != 1 || us[0] != alice {
		t.Fatalf("users %+v, want only %+v", us, alice)
	}
	st, _ := statusJSON(t, d1.Socket)
	if st.Runtime != "process" || len(st.Services) != 3 {
		t.Fatalf("status %+v: want 3 services on the process runtime", st)
	}

	// Ten updates under concurrent load through the proxy.
	load := e2etest.StartLoad(site, alice, 4)
	for i := 2; i <= 11; i++ {
		e2etest.SetVersion(t, dir, strconv.Itoa(i))
		e2etest.MustQuai(t, d1.Socket, "up", dir, "--env", "dev", "-y")
		if v := site.Version(t); v != strconv.Itoa(i) {
			t.Fatalf("update %d: version %q", i, v)
		}
	}
	ok, failed, errs := load.Stop()
	t.Logf("load: %d requests, %d failed during 10 updates", ok+failed, failed)
	if failed > 0 {
		t.Errorf("%d of %d requests failed during the updates; first errors: %v", failed, ok+failed, errs)
	}
	if ok < 100 {
		t.Errorf("only %d requests succeeded: the load did not run", ok)
	}
	site.HasUser(t, alice, "after the updates")
	rels, err := d1.Client.Releases(t.Context(), instance)
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) < 2 || rels[0].Number != 11 {
		t.Fatalf("releases %+v: want 11, the newest first", rels)
	}

	// Rollback returns to the version before, with the data.
	e2etest.MustQuai(t, d1.Socket, "rollback", instance)
	if v := site.Version(t); v != "10" {
		t.Fatalf("after rollback: version %q, want 10", v)
	}
	site.HasUser(t, alice, "after rollback")

	// Daemon restart: the replicas outlive the daemon and keep answering
	// on their own addresses; a new daemon re-attaches to the same ones.
	st, before := statusJSON(t, d1.Socket)
	if len(before) != 3 {
		t.Fatalf("replicas before the restart: %v", before)
	}
	apiAddr, webAddr := replicaAddr(t, st, "api"), replicaAddr(t, st, "web")
	d1.Stop()
	direct := e2etest.NewSite(apiAddr, siteHost)
	direct.HasUser(t, alice, "api replica without a daemon")
	if v := direct.Version(t); v != "10" {
		t.Errorf("api replica without a daemon: version %q, want 10", v)
	}
	if err := e2etest.NewSite(webAddr, siteHost).Page(); err != nil {
		t.Errorf("web replica without a daemon: %v", err)
	}
	d2 := daemontest.Start(t, opts)
	site = e2etest.NewSite(d2.ProxyHTTPAddr(), siteHost)
	site.HasUser(t, alice, "after the daemon restart")
	if err := site.Page(); err != nil {
		t.Errorf("after the daemon restart: %v", err)
	}
	if _, after := statusJSON(t, d2.Socket); !maps.Equal(after, before) {
		t.Errorf("the new daemon did not re-attach to the same replicas: %v, before %v", after, before)
	}

	// rm stops the instance and keeps its data.
	e2etest.MustQuai(t, d2.Socket, "rm", instance, "-y")
	if _, code := e2etest.Quai(t, d2.Socket, "status", instance); code == 0 {
		t.Errorf("status of %s succeeds after rm", instance)
	}
	if err := direct.GetUser(alice); err == nil {
		t.Errorf("the api replica at %s still answers after rm", apiAddr)
	}
	e2etest.MustQuai(t, d2.Socket, "up", dir, "--env", "dev", "-y")
	site.HasUser(t, alice, "up after rm")

	// rm --purge deletes the data: the next up starts an empty database.
	// It names what it deleted.
	if out := e2etest.MustQuai(t, d2.Socket, "rm", instance, "--purge", "-y"); !strings.Contains(out, "with its volumes and data (volumes dbdata)") {
		t.Errorf("rm --purge said %q; want it to name the volume it deleted, dbdata", out)
	}
	e2etest.MustQuai(t, d2.Socket, "up", dir, "--env", "dev", "-y")
	if err := site.GetUser(alice); !errors.Is(err, e2etest.ErrNotFound) {
		t.Errorf("after rm --purge and up: user %d: %v, want not found", alice.ID, err)
	}
	if us := site.Users(t); len(us) != 0 {
		t.Errorf("after rm --purge and up: users %+v, want none", us)
	}
}
