package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pgCluster is a throw-away PostgreSQL cluster in a test's temporary
// directory, listening on a free loopback port.
type pgCluster struct {
	t      *testing.T
	bindir string
	dir    string
	port   int
	asUser string // run server binaries as this user ("" = as ourselves)
}

// pgBinDir finds the PostgreSQL server binaries: $PG_BINDIR, else the Debian
// location of the newest installed major version.
func pgBinDir() string {
	if d := os.Getenv("PG_BINDIR"); d != "" {
		return d
	}
	for _, v := range []string{"17", "16", "15", "14"} {
		d := "/usr/lib/postgresql/" + v + "/bin"
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

// startPostgres initialises and starts a cluster with a database "users"
// owned by "app", and returns it; it is stopped when the test ends. Without
// PostgreSQL installed the test is skipped, except under CI=true where every
// engine must be present.
func startPostgres(t *testing.T) *pgCluster {
	t.Helper()
	bindir := pgBinDir()
	if bindir == "" {
		msg := "PostgreSQL server binaries not found (install the postgresql package or set PG_BINDIR)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	c := &pgCluster{t: t, bindir: bindir, dir: t.TempDir(), port: freePort(t)}
	// initdb and postgres refuse to run as root: hand the cluster to the
	// postgres system user.
	if os.Geteuid() == 0 {
		c.asUser = "postgres"
		u, err := user.Lookup(c.asUser)
		if err != nil {
			t.Fatalf("running as root needs the %q system user to own the test cluster: %v", c.asUser, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(c.dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		// t.TempDir's parent is private to root; let the postgres user through.
		if err := os.Chmod(filepath.Dir(c.dir), 0o711); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(c.dir, "data")
	c.run("initdb", "-D", data, "-U", "app", "--auth=trust", "--encoding=UTF8", "--no-sync")
	c.start()
	t.Cleanup(func() { c.stop("fast") })
	c.run("createdb", "-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-U", "app", "users")
	return c
}

// URL is the DATABASE_URL of the cluster's "users" database.
func (c *pgCluster) URL() string {
	return fmt.Sprintf("postgres://app@127.0.0.1:%d/users?sslmode=disable", c.port)
}

func (c *pgCluster) start() {
	c.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off", c.port, c.dir)
	c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-l", filepath.Join(c.dir, "server.log"), "-o", opts, "-w", "-t", "60", "start")
}

// stop shuts the server down; mode is a pg_ctl mode (fast, immediate).
func (c *pgCluster) stop(mode string) {
	c.t.Helper()
	cmd := c.command("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", mode, "-w", "stop")
	if out, err := cmd.CombinedOutput(); err != nil && !strings.Contains(string(out), "Is server running?") {
		c.t.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
}

func (c *pgCluster) command(name string, args ...string) *exec.Cmd {
	bin := filepath.Join(c.bindir, name)
	if c.asUser != "" {
		return exec.Command("runuser", append([]string{"-u", c.asUser, "--", bin}, args...)...)
	}
	return exec.Command(bin, args...)
}

func (c *pgCluster) run(name string, args ...string) {
	c.t.Helper()
	cmd := c.command(name, args...)
	cmd.Dir = c.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		c.t.Fatalf("%s %s: %v\n%s\nserver log:\n%s", name, strings.Join(args, " "), err, out, log)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
