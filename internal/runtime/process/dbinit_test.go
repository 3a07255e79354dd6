package process_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// daemonServiceEnv makes the short-lived daemon start one of
// daemonServices instead of the test app.
const daemonServiceEnv = "QUAI_TEST_SHORT_LIVED_DAEMON_SERVICE"

var (
	dbID           = stack.Identity{Org: "default", Project: "crash", Env: "test"}
	daemonServices = map[string]func() *stack.Service{"postgres": pgService, "mariadb": mariadbService}
)

// groupRuns reports whether a process of process group pgid runs with arg
// on its command line.
func groupRuns(pgid int, arg string) bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		i := bytes.LastIndexByte(stat, ')')
		if err != nil || i < 0 {
			continue
		}
		if f := strings.Fields(string(stat[i+1:])); len(f) < 3 || f[2] != strconv.Itoa(pgid) {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if bytes.Contains(cmdline, []byte(arg)) {
			return true
		}
	}
	return false
}

func globs(pattern string) bool {
	m, _ := filepath.Glob(pattern)
	return len(m) > 0
}

// TestDatabaseInitialisationSurvivesACrash kills a daemon, and everything
// it runs, in the middle of a database's first initialisation (PostgreSQL:
// initdb done, the application database being created by the runtime's
// single-user postgres, not initdb's; MariaDB: the system tables being
// made), then starts the replica again from another daemon: the database
// must be initialised again and work, and the password file the
// interrupted start left must be swept.
func TestDatabaseInitialisationSurvivesACrash(t *testing.T) {
	for _, tc := range []struct {
		service, step string
		// made is a glob that matches once the step has made files.
		made  string
		skip  func(*testing.T)
		check func(t *testing.T, rt runtime.Runtime, h runtime.Handle)
	}{
		{"postgres", "--single\x00-D\x00", "pgdata*/PG_VERSION", func(t *testing.T) {
			if _, err := os.Stat("/usr/lib/postgresql/15/bin/postgres"); err != nil {
				t.Skip("PostgreSQL 15 server binaries are not installed (apt-get install postgresql)")
			}
		}, func(t *testing.T, _ runtime.Runtime, h runtime.Handle) {
			conn, err := pgx.Connect(context.Background(), "postgres://app:s3cret%20pw@"+h.Address+"/appdb?sslmode=disable")
			if err != nil {
				t.Fatalf("connect to appdb after the crash: %v", err)
			}
			_ = conn.Close(context.Background())
		}},
		{"mariadb", "--bootstrap", "data*/mysql/*", skipWithoutMariaDB, func(t *testing.T, rt runtime.Runtime, h runtime.Handle) {
			if got := mariadbSQL(t, rt, h, "SELECT DATABASE()"); got != "shop" {
				t.Errorf("SELECT DATABASE() = %q, want shop", got)
			}
		}},
	} {
		t.Run(tc.service, func(t *testing.T) {
			tc.skip(t)
			if os.Geteuid() != 0 {
				t.Skip("database servers run as their system user, which needs a root daemon")
			}
			dataDir := t.TempDir()
			worldSearchable(t, dataDir)
			killLeftovers(t, dataDir)

			daemon := exec.Command(testExecutable(t))
			daemon.Env = append(os.Environ(), daemonEnv+"="+dataDir, daemonServiceEnv+"="+tc.service)
			daemon.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := daemon.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() { _ = daemon.Wait(); close(exited) }()
			made := filepath.Join(dataDir, "instances", dbID.Slug(), "volumes", "dbdata", tc.made)
			for !groupRuns(daemon.Process.Pid, tc.step) || !globs(made) {
				select {
				case <-exited:
					t.Fatalf("the daemon finished before the %s step could be interrupted", tc.step)
				case <-time.After(time.Millisecond):
				}
			}
			_ = syscall.Kill(-daemon.Process.Pid, syscall.SIGKILL)
			<-exited

			replica := filepath.Join(dataDir, "instances", dbID.Slug(), "replicas", "db-1")
			pwfile := filepath.Join(replica, "run", ".pwfile")
			hadPwfile := fileExists(pwfile)
			rt := newRuntime(t, dataDir, nil)
			if hadPwfile && !sweptSoon(pwfile) {
				t.Errorf("the password file %s an interrupted start left is still there after the runtime started", pwfile)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			h, err := rt.Start(ctx, runtime.ReplicaSpec{Instance: dbID, Service: daemonServices[tc.service](), Replica: "db-1", Index: 1, Release: 1})
			if err != nil {
				t.Fatalf("start again after the crash: %v", err)
			}
			t.Cleanup(func() { _ = rt.Remove(context.Background(), h) })
			deadline := time.Now().Add(time.Minute)
			for {
				st, err := rt.Inspect(ctx, h)
				if err == nil && st.Healthy() {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the database is not healthy after a crash during its initialisation: %+v %v", st, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			tc.check(t, rt, h)
		})
	}
}
