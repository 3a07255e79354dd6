package kubee2e

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/wire"
	"github.com/quai-dev/quai/test/e2e/e2etest"
)

// TestBackupRestoreOnKubernetes backs up the users-api example's
// PostgreSQL (a StatefulSet pod) through the daemon, changes the data, and
// restores the snapshot: the data is as it was at the backup.
func TestBackupRestoreOnKubernetes(t *testing.T) {
	c := shared.Require(t)
	dir := e2etest.Project(t, nil)
	c.UsersAPIImages(t, e2etest.ExampleDir(t), "1")
	deleteNamespaceAtCleanup(t, c, namespace)
	d := daemontest.Start(t, daemontest.Options{DataDir: e2etest.DataDir(t), Kube: kubeConfig(c)})
	e2etest.SetVersion(t, dir, "1")
	e2etest.MustQuai(t, d.Socket, "up", dir, "--org", "e2e", "--runtime", "kubernetes", "-y")
	site := ingressSite(c)
	var ada e2etest.User
	eventually(t, "create a user", func() error {
		_, err := site.Do("POST", "/api/users", map[string]string{"name": "ada", "email": "ada@example.com"}, &ada)
		return err
	})

	out := e2etest.MustQuai(t, d.Socket, "backup", instance)
	t.Logf("quai backup:\n%s", out)
	var l wire.BackupList
	if err := json.Unmarshal([]byte(e2etest.MustQuai(t, d.Socket, "backup", "ls", instance, "--json")), &l); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(l.Runs, func(r wire.BackupRun) bool { return r.Status == wire.BackupDone })
	if i < 0 || l.Runs[i].Service != "db" || l.Runs[i].Kind != "postgres" || l.Runs[i].Bytes == 0 {
		t.Fatalf("backup ls after a backup on kubernetes: %+v", l.Runs)
	}
	snap := l.Runs[i].Snapshot

	eventually(t, "create a second user", func() error {
		_, err := site.Do("POST", "/api/users", map[string]string{"name": "bob", "email": "bob@example.com"}, nil)
		return err
	})
	out = e2etest.MustQuai(t, d.Socket, "restore", instance, "--snapshot", snap, "-y")
	t.Logf("quai restore:\n%s", out)
	var names []string
	eventually(t, "list the users after the restore", func() error {
		var us []e2etest.User
		_, err := site.Do("GET", "/api/users", nil, &us)
		names = names[:0]
		for _, u := range us {
			names = append(names, u.Name)
		}
		return err
	})
	if !slices.Equal(names, []string{"ada"}) {
		t.Errorf("users after the restore on kubernetes: %v, want ada only", names)
	}
	eventually(t, "find ada after the restore", func() error { return site.GetUser(ada) })
}
