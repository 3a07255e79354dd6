package processe2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/daemon"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/wire"
	"github.com/quai-dev/quai/test/e2e/e2etest"
)

// psql runs SQL in the instance's database, beside it.
func psql(t *testing.T, socket, instance, sql string) string {
	t.Helper()
	return e2etest.MustQuai(t, socket, "exec", instance, "db", "--", "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql)
}

// backups is `quai backup ls --json`.
func backups(t *testing.T, socket, instance string) wire.BackupList {
	t.Helper()
	out := e2etest.MustQuai(t, socket, "backup", "ls", instance, "--json")
	var l wire.BackupList
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("quai backup ls --json: %v\n%s", err, out)
	}
	return l
}

// newestDone is the newest successful run of a trigger ("" = any).
func newestDone(l wire.BackupList, trigger string) (wire.BackupRun, bool) {
	for _, r := range l.Runs {
		if r.Status == wire.BackupDone && (trigger == "" || r.Trigger == trigger) {
			return r, true
		}
	}
	return wire.BackupRun{}, false
}

func names(us []e2etest.User) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Name)
	}
	slices.Sort(out)
	return out
}

// TestBackupRestoreCloneAndDrillOnProcess backs up the users-api example's
// PostgreSQL on the process runtime and checks, in order: the backup is
// listed with its size; after a change, restore brings the data back (a
// safety snapshot first); --from-backup installs a new instance holding the
// snapshot's data; a drill passes and leaves nothing behind; a repository
// that does not answer fails the backup with a non-zero exit, an error
// event, and a red state in status; a drill whose application cannot start
// on the restored data fails, and says so.
func TestBackupRestoreCloneAndDrillOnProcess(t *testing.T) {
	needPostgres(t)
	dir := e2etest.Project(t, map[string]string{"envs/qa.yaml": e2etest.PlainRoutes})
	e2etest.SetVersion(t, dir, "1")
	d := daemontest.Start(t, daemontest.Options{DataDir: e2etest.DataDir(t), HealthTimeout: 40 * time.Second})
	e2etest.MustQuai(t, d.Socket, "up", dir, "--env", "dev", "-y")
	site := e2etest.NewSite(d.ProxyHTTPAddr(), siteHost)
	alice := site.CreateUser(t, "alice")

	out := e2etest.MustQuai(t, d.Socket, "backup", instance)
	t.Logf("quai backup:\n%s", out)
	l := backups(t, d.Socket, instance)
	snap, ok := newestDone(l, wire.TriggerManual)
	if !ok || snap.Service != "db" || snap.Kind != "postgres" || snap.Bytes == 0 || snap.Snapshot == "" {
		t.Fatalf("backup ls after a backup: %+v", l.Runs)
	}
	if !strings.Contains(out, snap.Snapshot) {
		t.Errorf("quai backup does not name its snapshot %s:\n%s", snap.Snapshot, out)
	}

	// Change, then restore: the data is as it was at the snapshot.
	site.CreateUser(t, "bob")
	if n := names(site.Users(t)); !slices.Equal(n, []string{"alice", "bob"}) {
		t.Fatalf("users before the restore: %v", n)
	}
	if _, code := e2etest.Quai(t, d.Socket, "restore", instance, "--snapshot", snap.Snapshot); code == 0 {
		t.Error("restore without a terminal and without -y went ahead")
	}
	out = e2etest.MustQuai(t, d.Socket, "restore", instance, "--snapshot", snap.Snapshot, "-y")
	t.Logf("quai restore:\n%s", out)
	if n := names(site.Users(t)); !slices.Equal(n, []string{"alice"}) {
		t.Fatalf("users after the restore: %v, want alice only", n)
	}
	site.HasUser(t, alice, "after the restore")
	safety, ok := newestDone(backups(t, d.Socket, instance), wire.TriggerSafety)
	if !ok || !strings.Contains(out, safety.Snapshot) {
		t.Errorf("restore took no safety snapshot, or does not name it:\n%s", out)
	}

	// Verify re-reads the newest snapshot; prune's dry run keeps all three
	// (keep_last: 3 in the example).
	e2etest.MustQuai(t, d.Socket, "backup", "verify", instance)
	if r, _ := newestDone(backups(t, d.Socket, instance), ""); r.Verified.IsZero() || r.VerifyError != "" {
		t.Errorf("the newest run after a verify: %+v; want verified", r)
	}
	if out := e2etest.MustQuai(t, d.Socket, "backup", "prune", instance, "--dry-run"); !strings.Contains(out, "would prune 0 snapshot(s)") {
		t.Errorf("prune --dry-run with 2 snapshots and keep_last 3:\n%s", out)
	}

	// A new instance on the snapshot's data.
	e2etest.MustQuai(t, d.Socket, "up", dir, "--env", "qa", "-y", "--allow", "QL011", "--from-backup", snap.Snapshot[:10])
	qa := e2etest.NewSite(d.ProxyHTTPAddr(), "users-api.qa.localhost")
	if n := names(qa.Users(t)); !slices.Equal(n, []string{"alice"}) {
		t.Fatalf("users of the clone: %v, want alice", n)
	}
	qa.CreateUser(t, "carol")
	if n := names(site.Users(t)); !slices.Equal(n, []string{"alice"}) {
		t.Fatalf("a write to the clone reached the original: %v", n)
	}

	// A drill passes and removes its throw-away instance.
	out = e2etest.MustQuai(t, d.Socket, "backup", "drill", instance)
	t.Logf("quai backup drill:\n%s", out)
	if !strings.Contains(out, "match the backup") {
		t.Errorf("the drill report does not say the row counts matched:\n%s", out)
	}
	list, err := d.Client.Instances(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Errorf("instances after the drill: %+v; want dev and qa only", list)
	}
	if l := backups(t, d.Socket, instance); len(l.Drills) != 1 || l.Drills[0].Status != wire.BackupDone {
		t.Errorf("drills after a passing one: %+v", l.Drills)
	}

	// An unreachable repository: a loud failure, then a good run again.
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	e2etest.MustQuai(t, d.Socket, "backup", "target", "set", "s3://nowhere/x?endpoint=127.0.0.1:9&tls=false&region=us-east-1")
	out, code := e2etest.Quai(t, d.Socket, "backup", instance)
	if code == 0 || !strings.Contains(out, ": error: ") {
		t.Errorf("backup to an unreachable repository: exit %d, want non-zero with an error event:\n%s", code, out)
	}
	st, _ := statusJSON(t, d.Socket)
	if st.Backup == nil || !st.Backup.Failing() || st.Backup.Last == nil || st.Backup.Last.Status != wire.BackupFailed {
		t.Errorf("status after a failed backup: %+v; want the failure", st.Backup)
	}
	if out := e2etest.MustQuai(t, d.Socket, "status", instance); !strings.Contains(out, "backup   failed") {
		t.Errorf("quai status does not show the failed backup:\n%s", out)
	}
	if out := e2etest.MustQuai(t, d.Socket, "ls"); !strings.Contains(out, "BACKUP") || !strings.Contains(out, "failed") {
		t.Errorf("quai ls does not show the failed backup:\n%s", out)
	}
	e2etest.MustQuai(t, d.Socket, "backup", "target", "set", "file://"+filepath.Join(d.DataDir, "backups", "default"))
	e2etest.MustQuai(t, d.Socket, "backup", instance)
	if st, _ := statusJSON(t, d.Socket); st.Backup == nil || st.Backup.Failing() {
		t.Errorf("status after a good backup again: %+v", st.Backup)
	}

	// A drill whose application cannot start on the restored data: an
	// event trigger refuses the API's schema migration, which only runs
	// at start, so the running original is unaffected.
	psql(t, d.Socket, instance, `CREATE FUNCTION refuse_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN IF tg_tag = 'CREATE TABLE' THEN RAISE EXCEPTION 'schema changes are refused'; END IF; END $$;
CREATE EVENT TRIGGER refuse_ddl ON ddl_command_start EXECUTE FUNCTION refuse_ddl();`)
	e2etest.MustQuai(t, d.Socket, "backup", instance)
	out, code = e2etest.Quai(t, d.Socket, "backup", "drill", instance)
	t.Logf("quai backup drill (failing):\n%s", out)
	if code == 0 || !strings.Contains(out, "health") {
		t.Errorf("drill with an app that cannot start: exit %d, want non-zero naming the health check:\n%s", code, out)
	}
	l = backups(t, d.Socket, instance)
	if len(l.Drills) != 2 || l.Drills[0].Status != wire.BackupFailed || l.Drills[0].Error == "" {
		t.Errorf("drills after a failing one: %+v", l.Drills)
	}
	if st, _ := statusJSON(t, d.Socket); st.Backup == nil || !st.Backup.Failing() {
		t.Errorf("status after a failed drill: %+v; want failing", st.Backup)
	}
	if list, _ := d.Client.Instances(t.Context()); len(list) != 2 {
		t.Errorf("the failed drill left its instance: %+v", list)
	}
	site.HasUser(t, alice, "after the drills")
}

// TestScheduledBackupsRunAndCatchUpOnProcess: the daemon's scheduler runs
// a due backup on the stack's schedule, and a daemon started after a run
// was missed runs it at start.
func TestScheduledBackupsRunAndCatchUpOnProcess(t *testing.T) {
	needPostgres(t)
	const inst = "users-api-sched"
	dir := e2etest.Project(t, map[string]string{"envs/sched.yaml": e2etest.PlainRoutes + `  db:
    x-quai:
      backup:
        schedule: "@every 2s"
`})
	e2etest.SetVersion(t, dir, "1")
	dataDir := e2etest.DataDir(t)
	opts := daemontest.Options{DataDir: dataDir, HealthTimeout: 2 * time.Minute, KeepInstances: true,
		Backup: &daemon.BackupConfig{Tick: 500 * time.Millisecond, DrillSchedule: "@yearly"}}
	d1 := daemontest.Start(t, opts)
	e2etest.MustQuai(t, d1.Socket, "up", dir, "--env", "sched", "-y", "--allow", "QL011")
	waitRun(t, d1.Client, inst, 0)
	d1.Stop()

	// Down for longer than the interval: the next daemon, whose ticks are
	// an hour apart, runs the missed backup in its first pass, at start.
	time.Sleep(3 * time.Second)
	opts.KeepInstances = false
	opts.Backup = &daemon.BackupConfig{Tick: time.Hour, DrillSchedule: "@yearly"}
	d2 := daemontest.Start(t, opts)
	before, err := d2.Client.Backups(t.Context(), inst)
	if err != nil {
		t.Fatal(err)
	}
	waitRun(t, d2.Client, inst, runsBy(before, wire.TriggerSchedule))
}

func runsBy(l wire.BackupList, trigger string) int {
	n := 0
	for _, r := range l.Runs {
		if r.Trigger == trigger && r.Status == wire.BackupDone {
			n++
		}
	}
	return n
}

// waitRun waits for more than n scheduled backups of inst to have succeeded.
func waitRun(t *testing.T, c *client.Client, inst string, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		l, err := c.Backups(t.Context(), inst)
		if err != nil {
			t.Fatal(err)
		}
		if runsBy(l, wire.TriggerSchedule) > n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no scheduled backup of %s succeeded within 2 minutes: %+v", inst, l.Runs)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

const killChildEnv = "QUAI_TEST_BACKUP_CHILD"

// TestBackupAfterKill9MidBackupOnProcess kills a daemon (SIGKILL) while a
// backup runs: the next daemon marks the run interrupted, and the next
// backup works.
func TestBackupAfterKill9MidBackupOnProcess(t *testing.T) {
	if dataDir := os.Getenv(killChildEnv); dataDir != "" {
		d := daemontest.Start(t, daemontest.Options{DataDir: dataDir, KeepInstances: true})
		_, _ = os.Stdout.WriteString("READY " + d.Socket + "\n")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // killed before
		return
	}
	needPostgres(t)
	dir := e2etest.Project(t, nil)
	e2etest.SetVersion(t, dir, "1")
	dataDir := e2etest.DataDir(t)
	opts := daemontest.Options{DataDir: dataDir, HealthTimeout: 2 * time.Minute, KeepInstances: true}
	d1 := daemontest.Start(t, opts)
	e2etest.MustQuai(t, d1.Socket, "up", dir, "--env", "dev", "-y")
	// Enough data that the dump takes a moment.
	psql(t, d1.Socket, instance, `CREATE TABLE filler AS SELECT g AS id, md5(g::text) || repeat('x', 400) AS pad FROM generate_series(1, 400000) g`)
	d1.Stop()

	cmd := exec.Command(os.Args[0], "-test.run=^TestBackupAfterKill9MidBackupOnProcess$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dataDir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stdin.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if s, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				ready <- s
			}
		}
		close(ready)
	}()
	var socket string
	select {
	case s, ok := <-ready:
		if !ok {
			t.Fatalf("child daemon did not start:\n%s", stderr.String())
		}
		socket = s
	case <-time.After(2 * time.Minute):
		t.Fatal("child daemon did not start")
	}
	c := client.New(socket)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	go func() { _, _ = c.Backup(ctx, instance, "", nil) }()
	for {
		l, err := c.Backups(ctx, instance)
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Runs) > 0 && l.Runs[0].Status == wire.BackupRunning {
			break
		}
		if len(l.Runs) > 0 {
			t.Fatalf("the backup ended before the kill: %+v", l.Runs[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	c.Close()

	opts.KeepInstances = false
	d2 := daemontest.Start(t, opts)
	e2etest.MustQuai(t, d2.Socket, "backup", instance)
	l := backups(t, d2.Socket, instance)
	if len(l.Runs) != 2 || l.Runs[0].Status != wire.BackupDone || l.Runs[1].Status != wire.BackupInterrupted {
		t.Fatalf("runs after the kill and a new backup: %+v; want done, then interrupted", l.Runs)
	}
}

// TestRestoreOnANewHostWithTheExportedKeyOnProcess: the repository
// password exported from one data directory lets a daemon on a fresh one
// list the repository's snapshots and install an instance from one.
func TestRestoreOnANewHostWithTheExportedKeyOnProcess(t *testing.T) {
	needPostgres(t)
	dir := e2etest.Project(t, nil)
	e2etest.SetVersion(t, dir, "1")
	old := daemontest.Start(t, daemontest.Options{DataDir: e2etest.DataDir(t), HealthTimeout: 40 * time.Second})
	e2etest.MustQuai(t, old.Socket, "up", dir, "--env", "dev", "-y")
	alice := e2etest.NewSite(old.ProxyHTTPAddr(), siteHost).CreateUser(t, "alice")
	e2etest.MustQuai(t, old.Socket, "backup", instance)
	snap, _ := newestDone(backups(t, old.Socket, instance), "")
	keyFile := filepath.Join(t.TempDir(), "default.key")
	e2etest.MustQuai(t, old.Socket, "backup", "key", "export", "--output", keyFile)
	repoDir := filepath.Join(old.DataDir, "backups", "default")
	old.Stop()

	d := daemontest.Start(t, daemontest.Options{DataDir: e2etest.DataDir(t), HealthTimeout: 40 * time.Second})
	e2etest.MustQuai(t, d.Socket, "backup", "target", "set", "file://"+repoDir)
	if out, code := e2etest.Quai(t, d.Socket, "backup", "ls", "--org", "default"); code == 0 {
		t.Errorf("a new host without the key read the repository:\n%s", out)
	}
	e2etest.MustQuai(t, d.Socket, "backup", "key", "import", keyFile)
	out := e2etest.MustQuai(t, d.Socket, "backup", "ls", "--org", "default")
	if !strings.Contains(out, snap.Snapshot) {
		t.Fatalf("the new host does not list snapshot %s:\n%s", snap.Snapshot, out)
	}
	e2etest.MustQuai(t, d.Socket, "up", dir, "--env", "dev", "-y", "--from-backup", snap.Snapshot)
	e2etest.NewSite(d.ProxyHTTPAddr(), siteHost).HasUser(t, alice, "installed from the old host's backup")
}

// TestCorruptSnapshotIsFoundAndRefusedOnProcess damages the chunks of a
// snapshot in the local repository: verify (all of the data, by default)
// fails naming the snapshot, and a restore of it refuses before it changes
// anything, so the database keeps what it holds now.
func TestCorruptSnapshotIsFoundAndRefusedOnProcess(t *testing.T) {
	needPostgres(t)
	dir := e2etest.Project(t, nil)
	e2etest.SetVersion(t, dir, "1")
	d := daemontest.Start(t, daemontest.Options{DataDir: e2etest.DataDir(t), HealthTimeout: 40 * time.Second})
	e2etest.MustQuai(t, d.Socket, "up", dir, "--env", "dev", "-y")
	site := e2etest.NewSite(d.ProxyHTTPAddr(), siteHost)
	site.CreateUser(t, "alice")
	e2etest.MustQuai(t, d.Socket, "backup", instance)
	snap, ok := newestDone(backups(t, d.Socket, instance), wire.TriggerManual)
	if !ok {
		t.Fatal("no backup")
	}
	site.CreateUser(t, "bob")

	// Flip bytes all through every pack: a single byte may land in a
	// pack's random padding, which nothing reads.
	packs, _ := filepath.Glob(filepath.Join(d.DataDir, "backups", "default", "p", "*", "*"))
	if len(packs) == 0 {
		t.Fatal("no pack files in the local repository")
	}
	for _, p := range packs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i := 16; i < len(b); i += 97 {
			b[i] ^= 0x5a
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	out, code := e2etest.Quai(t, d.Socket, "backup", "verify", instance)
	t.Logf("quai backup verify:\n%s", out)
	if code == 0 || !strings.Contains(out, snap.Snapshot) || !strings.Contains(out, "corrupt") {
		t.Errorf("verify of a damaged snapshot: exit %d, want non-zero naming %s as corrupt:\n%s", code, snap.Snapshot, out)
	}
	// The failed verify is in status and ls, not only in backup ls.
	if st, _ := statusJSON(t, d.Socket); st.Backup == nil || !slices.Contains(st.Backup.VerifyFailed, snap.Snapshot) || !st.Backup.Failing() {
		t.Errorf("status after a failed verify: %+v; want failing, naming %s", st.Backup, snap.Snapshot)
	}
	if out := e2etest.MustQuai(t, d.Socket, "ls"); !strings.Contains(out, "verify FAILED") {
		t.Errorf("quai ls after a failed verify does not say so:\n%s", out)
	}
	out, code = e2etest.Quai(t, d.Socket, "restore", instance, "--snapshot", snap.Snapshot, "-y")
	t.Logf("quai restore:\n%s", out)
	if code == 0 || !strings.Contains(out, "nothing was changed") || !strings.Contains(out, snap.Snapshot) {
		t.Errorf("restore of a damaged snapshot: exit %d, want a refusal naming %s that says nothing was changed:\n%s", code, snap.Snapshot, out)
	}
	if n := names(site.Users(t)); !slices.Equal(n, []string{"alice", "bob"}) {
		t.Errorf("users after a refused restore: %v, want alice and bob as before", n)
	}
}

// repoSnapshots counts the snapshots of each instance the organization's
// repository holds (`quai backup ls --org default --json`).
func repoSnapshots(t *testing.T, socket string) map[string]int {
	t.Helper()
	out := e2etest.MustQuai(t, socket, "backup", "ls", "--org", "default", "--json")
	var l wire.BackupList
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("quai backup ls --org default --json: %v\n%s", err, out)
	}
	n := map[string]int{}
	for _, r := range l.Runs {
		n[r.Instance]++
	}
	return n
}

// TestRmKeepsBackupsUnlessPurgeIsToldToDeleteThem: a plain rm never deletes
// backups; rm --purge without a terminal and without a flag keeps them and
// says so; rm --purge --purge-backups deletes exactly that instance's
// snapshots and backup history, and another instance's backups still
// restore.
func TestRmKeepsBackupsUnlessPurgeIsToldToDeleteThem(t *testing.T) {
	needPostgres(t)
	dir := e2etest.Project(t, map[string]string{"envs/qa.yaml": e2etest.PlainRoutes})
	e2etest.SetVersion(t, dir, "1")
	d := daemontest.Start(t, daemontest.Options{DataDir: e2etest.DataDir(t), HealthTimeout: 40 * time.Second})
	const other = "users-api-qa"
	e2etest.MustQuai(t, d.Socket, "up", dir, "--env", "dev", "-y")
	e2etest.MustQuai(t, d.Socket, "up", dir, "--env", "qa", "-y", "--allow", "QL011")
	qa := e2etest.NewSite(d.ProxyHTTPAddr(), "users-api.qa.localhost")
	carol := qa.CreateUser(t, "carol")
	e2etest.MustQuai(t, d.Socket, "backup", instance)
	e2etest.MustQuai(t, d.Socket, "backup", instance)
	e2etest.MustQuai(t, d.Socket, "backup", other)
	qaSnap, _ := newestDone(backups(t, d.Socket, other), "")
	if n := repoSnapshots(t, d.Socket); n[instance] != 2 || n[other] != 1 {
		t.Fatalf("snapshots per instance after three backups: %v", n)
	}

	if _, code := e2etest.Quai(t, d.Socket, "rm", instance, "--purge-backups", "-y"); code == 0 {
		t.Error("rm --purge-backups without --purge went ahead")
	}
	e2etest.MustQuai(t, d.Socket, "rm", instance, "-y")
	if n := repoSnapshots(t, d.Socket); n[instance] != 2 {
		t.Errorf("after a plain rm the repository holds %d snapshots of %s; want its 2", n[instance], instance)
	}
	if _, ok := newestDone(backups(t, d.Socket, instance), ""); !ok {
		t.Error("a plain rm dropped the backup history")
	}

	e2etest.MustQuai(t, d.Socket, "up", dir, "--env", "dev", "-y")
	out := e2etest.MustQuai(t, d.Socket, "rm", instance, "--purge", "-y")
	if !strings.Contains(out, "2 backups (") || !strings.Contains(out, "kept") {
		t.Errorf("rm --purge -y without a terminal or flag said %q; want it to say the 2 backups are kept", out)
	}
	if n := repoSnapshots(t, d.Socket); n[instance] != 2 {
		t.Errorf("after rm --purge -y the repository holds %d snapshots of %s; want its 2", n[instance], instance)
	}

	e2etest.MustQuai(t, d.Socket, "up", dir, "--env", "dev", "-y")
	out = e2etest.MustQuai(t, d.Socket, "rm", instance, "--purge", "--purge-backups", "-y")
	t.Logf("quai rm --purge --purge-backups:\n%s", out)
	if !strings.Contains(out, "deleted 2 backup(s)") {
		t.Errorf("rm --purge --purge-backups said %q; want it to count the 2 backups it deleted", out)
	}
	if n := repoSnapshots(t, d.Socket); n[instance] != 0 || n[other] != 1 {
		t.Errorf("snapshots per instance after rm --purge --purge-backups of %s: %v; want none of it and 1 of %s", instance, n, other)
	}
	if l := backups(t, d.Socket, instance); len(l.Runs) != 0 {
		t.Errorf("backup history of %s after its backups were deleted: %+v", instance, l.Runs)
	}
	qa.CreateUser(t, "dave")
	e2etest.MustQuai(t, d.Socket, "restore", other, "--snapshot", qaSnap.Snapshot, "-y")
	if n := names(qa.Users(t)); !slices.Equal(n, []string{"carol"}) {
		t.Errorf("users of %s restored after another instance's backups were deleted: %v; want carol only", other, n)
	}
	qa.HasUser(t, carol, "restored")
}
