package dump_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/backup/dump"
	"github.com/quai-dev/quai/internal/backup/dump/dumptest"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/process"
	"github.com/quai-dev/quai/internal/stack"
)

func TestMain(m *testing.M) {
	if process.IsShim() {
		os.Exit(process.ShimMain())
	}
	os.Exit(m.Run())
}

// processReplica starts svc as one replica on a fresh process runtime and
// returns the runtime, the replica and the Exec and PathAccess beside it.
func processReplica(t *testing.T, svc *stack.Service) (*process.Runtime, runtime.Handle, dump.Exec, dump.PathAccess) {
	t.Helper()
	if os.Geteuid() != 0 {
		dumptest.SkipOrFail(t, "database servers run as their system user, which needs a root daemon")
	}
	dataDir := t.TempDir()
	for d := dataDir; d != os.TempDir() && d != "/" && d != "."; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rt, err := process.New(process.Options{DataDir: dataDir, ShimPath: exe, HealthInterval: 200 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	h, err := rt.Start(ctx, runtime.ReplicaSpec{Instance: stack.Identity{Project: "bk", Env: "test"}, Service: svc, Replica: svc.Name + "-1", Index: 1, Release: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Remove(context.Background(), h) })
	dumptest.WaitHealthy(t, rt, h)
	ex, fs := dumptest.Beside(t, rt, h)
	return rt, h, ex, fs
}

func needBinary(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			if _, err := exec.LookPath(filepath.Base(p)); err != nil {
				dumptest.SkipOrFail(t, p+" is not installed: run scripts/deps.sh")
			}
		}
	}
}

func pgService() *stack.Service {
	return &stack.Service{Name: "db", Image: "postgres:15",
		Environment: map[string]string{"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "s3cret pw", "POSTGRES_DB": "appdb"},
		Mounts:      []stack.Mount{{Type: stack.MountVolume, Source: "pgdata", Target: "/var/lib/postgresql/data"}}}
}

func mariadbService() *stack.Service {
	return &stack.Service{Name: "db", Image: "mariadb:11", Environment: map[string]string{
		"MARIADB_ROOT_PASSWORD": "r00t pw", "MARIADB_DATABASE": "shop", "MARIADB_USER": "shop", "MARIADB_PASSWORD": "it's secret"},
		Mounts: []stack.Mount{{Type: stack.MountVolume, Source: "dbdata", Target: "/var/lib/mysql"}}}
}

func redisService() *stack.Service {
	return &stack.Service{Name: "cache", Image: "redis:7",
		Mounts: []stack.Mount{{Type: stack.MountVolume, Source: "cachedata", Target: "/data"}}}
}

func TestProcessPostgres(t *testing.T) {
	needBinary(t, "/usr/lib/postgresql/15/bin/postgres", "/usr/lib/postgresql/15/bin/pg_dump")
	svc := pgService()
	rt, h, ex, _ := processReplica(t, svc)
	if v := dumptest.Sh(t, ex, `pg_dump --version`); v == "" || !bytes.Contains([]byte(v), []byte(" 15.")) {
		t.Errorf("pg_dump beside the server is %q, want version 15 as the server", v)
	}
	good := dumptest.RoundTrip(t, dumptest.Postgres, svc, ex, nil)
	dumptest.RestoreRefusesTruncated(t, dumptest.Postgres, svc, ex, nil, good)
	if err := rt.Stop(context.Background(), h, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	dumptest.DumpFailsWhenDown(t, stack.BackupPostgres, svc, ex, "s3cret pw")
}

func TestProcessMariaDB(t *testing.T) {
	needBinary(t, "/usr/sbin/mariadbd", "/usr/bin/mariadb-dump")
	svc := mariadbService()
	rt, h, ex, _ := processReplica(t, svc)
	dumptest.RoundTrip(t, dumptest.MariaDB, svc, ex, nil)
	if err := rt.Stop(context.Background(), h, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	dumptest.DumpFailsWhenDown(t, stack.BackupMySQL, svc, ex, "r00t pw")
}

func TestProcessRedis(t *testing.T) {
	needBinary(t, "/usr/bin/redis-server", "/usr/bin/redis-cli")
	svc := redisService()
	rt, h, ex, fs := processReplica(t, svc)
	good := dumptest.RoundTrip(t, dumptest.Redis, svc, ex, fs)
	dumptest.RestoreRefusesTruncated(t, dumptest.Redis, svc, ex, fs, good)
	// The restored data is the server's own again: it persists it.
	dumptest.RedisCmd(t, ex, "save")
	if err := rt.Stop(context.Background(), h, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	dumptest.DumpFailsWhenDown(t, stack.BackupRedis, svc, ex)
}

// TestProcessFiles backs up a volume and a bind-mounted directory, changes
// and removes files, restores, and compares every file's hash with the
// ones Dump recorded and Check reports.
func TestProcessFiles(t *testing.T) {
	bind := t.TempDir()
	svc := &stack.Service{Name: "web", Image: "busybox", Process: &stack.Process{Command: []string{"sleep", "600"}},
		Mounts: []stack.Mount{{Type: stack.MountVolume, Source: "uploads", Target: "/srv/uploads"}, {Type: stack.MountBind, Source: bind, Target: "/srv/conf"}},
		Backup: &stack.BackupPolicy{Kind: stack.BackupVolume}}
	_, _, ex, fs := processReplica(t, svc)
	host, ok := fs.HostPath("/srv/uploads")
	if !ok || filepath.Base(host) != "uploads" {
		t.Fatalf("HostPath(/srv/uploads) = %q, %v, want the volume's directory", host, ok)
	}
	if got, ok := fs.HostPath("/srv/conf/app.ini"); !ok || got != "/srv/conf/app.ini" {
		t.Errorf("HostPath of a bind mount's file = %q, %v, want the path as is", got, ok)
	}
	write := func(p, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	write(filepath.Join(host, "a.txt"), "alpha")
	write(filepath.Join(host, "deep/er/b.bin"), string(big))
	write(filepath.Join(bind, "app.ini"), "[app]\nname = x\n")
	if err := os.Symlink("a.txt", filepath.Join(host, "link")); err != nil {
		t.Fatal(err)
	}
	svc.Backup.Paths = []string{"/srv/uploads", "/srv/conf"}
	// The bind mount's host directory stands for /srv/conf: back it up by
	// its host path, which is what the replica sees on this runtime.
	svc.Backup.Paths[1] = bind
	want := map[string]string{
		"/srv/uploads/a.txt": dumptest.SHA256("alpha"), "/srv/uploads/deep/er/b.bin": dumptest.SHA256(string(big)), bind + "/app.ini": dumptest.SHA256("[app]\nname = x\n"),
	}

	dumptest.FilesRoundTrip(t, svc, ex, fs, want, func() {
		write(filepath.Join(host, "a.txt"), "changed")
		if err := os.RemoveAll(filepath.Join(host, "deep")); err != nil {
			t.Fatal(err)
		}
		write(filepath.Join(bind, "app.ini"), "gone")
	})
	if fi, err := os.Stat(filepath.Join(host, "deep/er/b.bin")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("the restored file: %v, %v, want mode 0640", fi, err)
	}
	if l, err := os.Readlink(filepath.Join(host, "link")); err != nil || l != "a.txt" {
		t.Errorf("the restored symbolic link points at %q (%v), want a.txt", l, err)
	}
}
