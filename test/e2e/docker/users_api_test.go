package dockere2e

import (
	"context"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/wire"
	"github.com/quai-dev/quai/test/e2e/e2etest"
)

const (
	instance = "e2e/users-api-dev"
	// siteHost is the default host of org e2e's instance
	// ({project}.{env}.{org}.localhost for an org other than the default).
	siteHost = "users-api.dev.e2e.localhost"
)

// TestUsersAPIOnDocker deploys the example with `quai up --runtime docker`
// and checks, in order: status with CPU and memory per container; the
// runtime is remembered by the next up; data survives an update, a
// rollback (which starts the first release's image ids) and a daemon
// restart (containers keep running and the new daemon re-attaches and
// routes); ten updates under concurrent load through the proxy fail no
// request; prune removes no image a kept release references.
func TestUsersAPIOnDocker(t *testing.T) {
	cli, host := engine(t)
	dir := e2etest.Project(t, nil)
	e2etest.SetVersion(t, dir, "1")
	d1 := daemontest.Start(t, daemontest.Options{DockerHost: host, KeepInstances: true,
		HealthTimeout: 2 * time.Minute, DrainTimeout: 10 * time.Second})
	ctx := context.Background()

	out := e2etest.MustQuai(t, d1.Socket, "up", dir, "--org", "e2e", "--runtime", "docker", "-y")
	if !strings.Contains(out, "image") {
		t.Errorf("up output shows no image step:\n%s", out)
	}
	site := e2etest.NewSite(d1.ProxyHTTPAddr(), siteHost)
	if v := site.Version(t); v != "1" {
		t.Fatalf("version %q, want 1", v)
	}
	alice := site.CreateUser(t, "alice")

	// Status: every container reports its memory, and the API under a few
	// requests its CPU use. The runtime samples usage in the background,
	// so status reports the latest sample: poll.
	var st wire.InstanceStatus
	var allMem, sawCPU bool
	for i := 0; i < 100 && (!allMem || !sawCPU); i++ {
		for range 10 {
			site.HasUser(t, alice, "status load")
		}
		var err error
		if st, err = d1.Client.Status(ctx, instance); err != nil {
			t.Fatal(err)
		}
		allMem = len(st.Services) == 3
		for _, s := range st.Services {
			for _, r := range s.Replicas {
				allMem = allMem && r.Status.MemoryBytes > 0
				sawCPU = sawCPU || r.Status.CPUPercent > 0
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st.Runtime != "docker" || len(st.Services) != 3 {
		t.Fatalf("status %+v: want 3 services on docker", st)
	}
	if !allMem || !sawCPU {
		t.Errorf("status never reported memory for every container and CPU for one: %+v", st.Services)
	}
	statusOut := e2etest.MustQuai(t, d1.Socket, "status", instance)
	if !regexp.MustCompile(`\d+(\.\d)?[KMG]iB`).MatchString(statusOut) {
		t.Errorf("quai status shows no memory figure:\n%s", statusOut)
	}

	// An update without --runtime stays on docker; data survives.
	e2etest.SetVersion(t, dir, "2")
	e2etest.MustQuai(t, d1.Socket, "up", dir, "--org", "e2e", "-y")
	if v := site.Version(t); v != "2" {
		t.Fatalf("after update: version %q, want 2", v)
	}
	site.HasUser(t, alice, "after update")
	rels, err := d1.Client.Releases(ctx, instance)
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) != 2 || rels[0].Runtime != "docker" {
		t.Fatalf("releases %+v: want 2 on docker", rels)
	}
	first := rels[1].Images
	for _, svc := range []string{"api", "web", "db"} {
		if !strings.HasPrefix(first[svc], "sha256:") {
			t.Errorf("release 1 image of %s = %q: want a pinned id", svc, first[svc])
		}
	}

	// Rollback starts release 1's images; data survives.
	out = e2etest.MustQuai(t, d1.Socket, "rollback", instance)
	if strings.Contains(out, "building") || strings.Contains(out, "pulling") {
		t.Errorf("rollback built or pulled:\n%s", out)
	}
	if v := site.Version(t); v != "1" {
		t.Fatalf("after rollback: version %q, want 1", v)
	}
	site.HasUser(t, alice, "after rollback")
	rels, err = d1.Client.Releases(ctx, instance)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(rels[0].Images, first) {
		t.Errorf("rollback release images %v, want release 1's %v", rels[0].Images, first)
	}

	// Daemon restart: the containers keep running, a new daemon
	// re-attaches to them and routes again.
	before := containers(t, cli, instance, "")
	if len(before) != 3 {
		t.Fatalf("containers before restart: %v", before)
	}
	d1.Stop()
	if after := containers(t, cli, instance, ""); !maps.Equal(after, before) {
		t.Fatalf("containers changed while no daemon ran: %v, before %v", after, before)
	}
	d2 := daemontest.Start(t, daemontest.Options{DataDir: d1.DataDir, DockerHost: host,
		HealthTimeout: 2 * time.Minute, DrainTimeout: 10 * time.Second})
	site = e2etest.NewSite(d2.ProxyHTTPAddr(), siteHost)
	site.HasUser(t, alice, "after daemon restart")
	if after := containers(t, cli, instance, ""); !maps.Equal(after, before) {
		t.Errorf("the new daemon restarted containers: %v, before %v", after, before)
	}

	// Ten updates under concurrent load through the proxy.
	load := e2etest.StartLoad(site, alice, 4)
	for i := 3; i <= 12; i++ {
		e2etest.SetVersion(t, dir, strconv.Itoa(i))
		e2etest.MustQuai(t, d2.Socket, "up", dir, "--org", "e2e", "-y")
	}
	ok, failed, errs := load.Stop()
	t.Logf("load: %d requests, %d failed during 10 updates", ok+failed, failed)
	if failed > 0 {
		t.Errorf("%d of %d requests failed during the updates; first errors: %v", failed, ok+failed, errs)
	}
	if ok < 100 {
		t.Errorf("only %d requests succeeded: the load did not run", ok)
	}
	if v := site.Version(t); v != "12" {
		t.Errorf("after the updates: version %q, want 12", v)
	}
	site.HasUser(t, alice, "after the updates")

	// Prune keeps every image a kept release references.
	out = e2etest.MustQuai(t, d2.Socket, "prune", "--dry-run")
	if !strings.Contains(out, "would remove") {
		t.Errorf("prune --dry-run output:\n%s", out)
	}
	out = e2etest.MustQuai(t, d2.Socket, "prune", "-y")
	if !regexp.MustCompile(`removed \d+ image\(s\), freed `).MatchString(out) {
		t.Errorf("prune output does not say what it freed:\n%s", out)
	}
	rels, err = d2.Client.Releases(ctx, instance)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rels {
		for svc, ref := range r.Images {
			if _, err := cli.ImageInspect(ctx, ref); err != nil {
				t.Errorf("prune removed %s, the image of %s in kept release %d: %v", ref, svc, r.Number, err)
			}
		}
	}
	site.HasUser(t, alice, "after prune")
}

// TestOrgsAreIsolated deploys the example for two organizations and checks
// that neither can reach the other's database, while each reaches its own.
func TestOrgsAreIsolated(t *testing.T) {
	cli, host := engine(t)
	overlay := "x-quai:\n  default_host: \"{org}.{project}.{env}.localhost\"\n"
	dir := e2etest.Project(t, map[string]string{"orgs/iso-a/common.yaml": overlay, "orgs/iso-b/common.yaml": overlay})
	e2etest.SetVersion(t, dir, "1")
	d := daemontest.Start(t, daemontest.Options{DockerHost: host, HealthTimeout: 2 * time.Minute})
	for _, org := range []string{"iso-a", "iso-b"} {
		e2etest.MustQuai(t, d.Socket, "up", dir, "--org", org, "--runtime", "docker", "-y")
		s := e2etest.NewSite(d.ProxyHTTPAddr(), org+".users-api.dev.localhost")
		s.CreateUser(t, "user-of-"+org)
	}
	dbIP := func(org string) string {
		t.Helper()
		ids := containers(t, cli, org+"/users-api-dev", "db")
		for id := range ids {
			ins, err := cli.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for name, n := range ins.Container.NetworkSettings.Networks {
				if name == "quai-"+org+"-users-api-dev" && n.IPAddress.IsValid() {
					return n.IPAddress.String()
				}
			}
		}
		t.Fatalf("no address of %s's database on its network (containers %v)", org, ids)
		return ""
	}
	ipA, ipB := dbIP("iso-a"), dbIP("iso-b")
	// pg_isready exits 0 when the server accepts connections and 2 when
	// nothing answers.
	isReady := func(from, target string) int {
		_, code := e2etest.Quai(t, d.Socket, "exec", from+"/users-api-dev", "db", "--", "pg_isready", "-h", target, "-p", "5432", "-t", "3")
		return code
	}
	for _, c := range []struct{ from, target, what string }{
		{"iso-a", "db", "its own database by name"},
		{"iso-a", ipA, "its own database by address"},
		{"iso-b", "db", "its own database by name"},
	} {
		if code := isReady(c.from, c.target); code != 0 {
			t.Errorf("%s cannot reach %s (%s): pg_isready exit %d", c.from, c.what, c.target, code)
		}
	}
	for _, c := range []struct{ from, target string }{{"iso-a", ipB}, {"iso-b", ipA}} {
		if code := isReady(c.from, c.target); code == 0 {
			t.Errorf("%s reaches the other organization's database at %s", c.from, c.target)
		}
	}
}
