package dockere2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/wire"
	"github.com/quai-dev/quai/test/e2e/e2etest"
)

// TestBackupRestoreAndDrillOnDocker backs up the users-api example's
// PostgreSQL on the Docker runtime through the daemon: after a change,
// restore brings the snapshot's data back (a safety snapshot first), and a
// drill restores the backup into a throw-away instance whose row counts
// match, then removes it.
func TestBackupRestoreAndDrillOnDocker(t *testing.T) {
	_, host := engine(t)
	dir := e2etest.Project(t, nil)
	e2etest.SetVersion(t, dir, "1")
	d := daemontest.Start(t, daemontest.Options{DockerHost: host, HealthTimeout: 2 * time.Minute, DrainTimeout: 10 * time.Second})
	e2etest.MustQuai(t, d.Socket, "up", dir, "--org", "e2e", "--runtime", "docker", "-y")
	site := e2etest.NewSite(d.ProxyHTTPAddr(), siteHost)
	alice := site.CreateUser(t, "alice")

	out := e2etest.MustQuai(t, d.Socket, "backup", instance)
	t.Logf("quai backup:\n%s", out)
	snap, ok := newestDone(t, d.Socket, wire.TriggerManual)
	if !ok || snap.Service != "db" || snap.Kind != "postgres" || snap.Bytes == 0 {
		t.Fatalf("backup ls after a backup on docker: %+v", snap)
	}

	site.CreateUser(t, "bob")
	out = e2etest.MustQuai(t, d.Socket, "restore", instance, "--snapshot", snap.Snapshot, "-y")
	t.Logf("quai restore:\n%s", out)
	if n := userNames(site.Users(t)); !slices.Equal(n, []string{"alice"}) {
		t.Fatalf("users after the restore on docker: %v, want alice only", n)
	}
	site.HasUser(t, alice, "after the restore")
	if safety, ok := newestDone(t, d.Socket, wire.TriggerSafety); !ok || !strings.Contains(out, safety.Snapshot) {
		t.Errorf("restore took no safety snapshot, or does not name it:\n%s", out)
	}

	out = e2etest.MustQuai(t, d.Socket, "backup", "drill", instance)
	t.Logf("quai backup drill:\n%s", out)
	if !strings.Contains(out, "match the backup") {
		t.Errorf("the drill on docker does not say the row counts matched:\n%s", out)
	}
	if list, err := d.Client.Instances(t.Context()); err != nil || len(list) != 1 {
		t.Errorf("instances after the drill: %+v, %v; want the original only", list, err)
	}
	site.HasUser(t, alice, "after the drill")
}

// newestDone is the instance's newest successful backup run of trigger.
func newestDone(t *testing.T, socket, trigger string) (wire.BackupRun, bool) {
	t.Helper()
	out := e2etest.MustQuai(t, socket, "backup", "ls", instance, "--json")
	var l wire.BackupList
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("quai backup ls --json: %v\n%s", err, out)
	}
	for _, r := range l.Runs {
		if r.Status == wire.BackupDone && r.Trigger == trigger {
			return r, true
		}
	}
	return wire.BackupRun{}, false
}

func userNames(us []e2etest.User) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Name)
	}
	slices.Sort(out)
	return out
}
