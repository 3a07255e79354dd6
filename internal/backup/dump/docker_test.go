package dump_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/backup/dump"
	"github.com/quai-dev/quai/internal/backup/dump/dumptest"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/docker"
	"github.com/quai-dev/quai/internal/runtime/docker/dockertest"
	"github.com/quai-dev/quai/internal/stack"
)

// dockerRuntime connects to the test engine (skipping without one, failing
// in CI) and removes what the test started.
func dockerRuntime(t *testing.T) *docker.Runtime {
	t.Helper()
	dockertest.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rt, err := docker.New(ctx, docker.Options{StateDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler), HealthInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close() })
	return rt
}

// dockerReplica starts svc on rt in an instance of its own, waits until
// ready (a command that succeeds beside it) and returns the replica with
// its Exec and PathAccess.
func dockerReplica(t *testing.T, rt *docker.Runtime, svc *stack.Service, secrets map[string][]byte, ready ...string) (runtime.Handle, dump.Exec, dump.PathAccess) {
	t.Helper()
	id := stack.Identity{Project: "bk" + strings.ToLower(rand.Text()[:6]), Env: "test"}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if svc.Hash == "" {
		svc.Hash = "h1"
	}
	svc.Replicas = 1
	h, err := rt.Start(ctx, runtime.ReplicaSpec{Instance: id, Service: svc, Replica: svc.Name + "-1", Index: 1, Release: 1, Secrets: secrets})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		hs, _ := rt.List(ctx, id)
		for _, h := range hs {
			_ = rt.Remove(ctx, h)
		}
		_ = rt.RemoveVolumes(ctx, id)
	})
	if err != nil {
		t.Fatal(err)
	}
	ex, fs := dumptest.Beside(t, rt, h)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var out bytes.Buffer
		code, err := ex(ctx, ready, nil, &out, &out)
		if err == nil && code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not ready: %d %v %s", svc.Name, code, err, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return h, ex, fs
}

// TestDockerPostgres runs the round trip against the PostgreSQL 15 image
// made from the host's packages, with the password in a secret file as the
// official image takes it.
func TestDockerPostgres(t *testing.T) {
	rt := dockerRuntime(t)
	img := dockertest.PostgresImage(t, dockertest.Engine(t))
	svc := &stack.Service{Name: "db", Image: img,
		Environment: map[string]string{"POSTGRES_USER": "app", "POSTGRES_DB": "appdb", "POSTGRES_PASSWORD_FILE": "/run/secrets/db_password"},
		Mounts:      []stack.Mount{{Type: stack.MountVolume, Source: "pgdata", Target: "/var/lib/postgresql/data"}},
		Secrets:     []string{"db_password"}}
	h, ex, _ := dockerReplica(t, rt, svc, map[string][]byte{"db_password": []byte("s3cret-pw")},
		"sh", "-c", `psql -X -U app -d appdb -c "SELECT 1"`)
	dumptest.RoundTrip(t, dumptest.Postgres, svc, ex, nil)
	if err := rt.Stop(context.Background(), h, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	dumptest.DumpFailsWhenDown(t, stack.BackupPostgres, svc, ex, "s3cret-pw")
}

// redisImage is Redis from the host's packages, with no cat, no tar and no
// other tool: what the restore needs is sh, redis-server and redis-cli.
func redisImage(t *testing.T) string {
	return dockertest.HostImage(t, dockertest.Engine(t), dockertest.HostImageSpec{
		Name: "redis", Programs: []string{"/usr/bin/redis-server", "/usr/bin/redis-cli"}, Dirs: []string{"/data"},
		Changes: []string{"ENV PATH=/usr/bin:/bin", "WORKDIR /data", `CMD ["/usr/bin/redis-server", "--protected-mode", "no", "--dir", "/data"]`, "EXPOSE 6379"},
	})
}

func TestDockerRedis(t *testing.T) {
	rt := dockerRuntime(t)
	svc := &stack.Service{Name: "cache", Image: redisImage(t), Mounts: []stack.Mount{{Type: stack.MountVolume, Source: "cachedata", Target: "/data"}}}
	h, ex, fs := dockerReplica(t, rt, svc, nil, "redis-cli", "ping")
	if code, _ := ex(context.Background(), []string{"cat", "/dev/null"}, nil, nil, nil); code == 0 {
		t.Fatal("the image has cat: the restore without it is not tested")
	}
	dumptest.RoundTrip(t, dumptest.Redis, svc, ex, fs)
	if err := rt.Stop(context.Background(), h, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	dumptest.DumpFailsWhenDown(t, stack.BackupRedis, svc, ex)
}

// TestDockerVolume backs up a volume of a container whose image has no tar
// (the Engine's archive API reads it), restores it into a changed volume,
// and compares the hashes; the volume's host directory is found when the
// engine is local.
func TestDockerVolume(t *testing.T) {
	rt := dockerRuntime(t)
	svc := &stack.Service{Name: "files", Image: redisImage(t), Mounts: []stack.Mount{{Type: stack.MountVolume, Source: "uploads", Target: "/data"}},
		Backup: &stack.BackupPolicy{Kind: stack.BackupVolume, Paths: []string{"/data"}}}
	_, ex, fs := dockerReplica(t, rt, svc, nil, "redis-cli", "ping")
	dumptest.Sh(t, ex, `i=0; while [ $i -lt 20 ]; do echo "file $i" > /data/f$i.txt; i=$((i+1)); done; echo nested > /data/nested.txt`)
	want := map[string]string{"/data/nested.txt": dumptest.SHA256("nested\n")}
	for i := range 20 {
		want[fmt.Sprintf("/data/f%d.txt", i)] = dumptest.SHA256(fmt.Sprintf("file %d\n", i))
	}
	dumptest.FilesRoundTrip(t, svc, ex, fs, want, func() { dumptest.Sh(t, ex, `echo changed > /data/f7.txt; : > /data/nested.txt`) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if os.Geteuid() == 0 {
		host, ok := fs.HostPath("/data/f7.txt")
		if !ok {
			t.Fatal("no host path for a local engine's volume")
		}
		if b, err := os.ReadFile(host); err != nil || string(b) != "file 7\n" {
			t.Errorf("%s on the host: %q, %v", host, b, err)
		}
		if filepath.Base(host) != "f7.txt" {
			t.Errorf("host path %s", host)
		}
	}
	if err := fs.WriteTar(ctx, "/no/such/dir", bytes.NewReader(nil)); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("writing into a directory that does not exist: %v, want ErrNotFound", err)
	}
}

// mariadbEntry initialises the data directory on first start as
// mariadb-install-db does (the system tables' SQL through mariadbd
// --bootstrap), then runs the server with the root password and database
// of the environment, as the official image does.
const mariadbEntry = `#!/bin/sh
set -e
d=/var/lib/mysql
if [ ! -d $d/mysql ]; then
  mariadbd --no-defaults --user=root --bootstrap --datadir=$d --basedir=/usr --log-warnings=0 --enforce-storage-engine="" --max_allowed_packet=8M --net_buffer_length=16K < /bootstrap.sql
fi
{
  printf "ALTER USER 'root'@'localhost' IDENTIFIED BY '%s';\n" "$MARIADB_ROOT_PASSWORD"
  [ -z "$MARIADB_DATABASE" ] || printf 'CREATE DATABASE IF NOT EXISTS %s;\n' "$MARIADB_DATABASE"
} > /tmp/init.sql
exec mariadbd --no-defaults --user=root --datadir=$d --basedir=/usr --socket=/run/mysqld/mysqld.sock --bind-address=0.0.0.0 --init-file=/tmp/init.sql --skip-name-resolve
`

// mariadbImage is MariaDB from the host's packages.
func mariadbImage(t *testing.T) string {
	t.Helper()
	boot := dockertest.MariaDBSystemTables(t)
	return dockertest.HostImage(t, dockertest.Engine(t), dockertest.HostImageSpec{
		Name:     "mariadb",
		Programs: []string{"/usr/sbin/mariadbd", "/usr/bin/mariadb", "/usr/bin/mariadb-dump"},
		Trees:    []string{"/usr/share/mysql"},
		Files:    map[string][]byte{"/entry.sh": []byte(mariadbEntry), "/bootstrap.sql": boot},
		Dirs:     []string{"/var/lib/mysql", "/run/mysqld"},
		Changes:  []string{"ENV PATH=/usr/sbin:/usr/bin:/bin", `CMD ["/entry.sh"]`, "EXPOSE 3306"},
	})
}

func TestDockerMariaDB(t *testing.T) {
	rt := dockerRuntime(t)
	svc := &stack.Service{Name: "db", Image: mariadbImage(t),
		Environment: map[string]string{"MARIADB_ROOT_PASSWORD": "r00t pw", "MARIADB_DATABASE": "shop"},
		Mounts:      []stack.Mount{{Type: stack.MountVolume, Source: "dbdata", Target: "/var/lib/mysql"}}}
	h, ex, _ := dockerReplica(t, rt, svc, nil, "sh", "-c", `MYSQL_PWD=$MARIADB_ROOT_PASSWORD mariadb -uroot -e "SELECT 1" shop`)
	dumptest.RoundTrip(t, dumptest.MariaDB, svc, ex, nil)
	if err := rt.Stop(context.Background(), h, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	dumptest.DumpFailsWhenDown(t, stack.BackupMySQL, svc, ex, "r00t pw")
}
