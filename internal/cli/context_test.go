package cli_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/cli"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/runtime/runtimetest"
	"github.com/quai-dev/quai/internal/wire"
)

// TestProjectContextFromASubfolder: inside a project, in a folder below
// the one holding compose.yaml, the instance verbs act on the instance the
// project deploys for -e/--env, as Compose's verbs do; an INSTANCE given
// wins; outside any project, a verb without INSTANCE says what to do.
func TestProjectContextFromASubfolder(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	dir := daemontest.AppProject(t, daemontest.App{Project: "ctx", Worker: true})
	other := daemontest.AppProject(t, daemontest.App{Project: "other"})
	mustRun(t, d, "up", other, "-y")
	sub := filepath.Join(dir, "src", "deep")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)

	// up without DIR finds compose.yaml two folders up.
	up := mustRun(t, d, "up", "-y")
	if !strings.Contains(up.stdout, "ctx-dev") {
		t.Fatalf("up from %s did not deploy ctx-dev", sub)
	}
	st := mustRun(t, d, "status", "--json")
	var status wire.InstanceStatus
	if err := json.Unmarshal([]byte(st.stdout), &status); err != nil {
		t.Fatal(err)
	}
	if status.Name != "ctx-dev" || len(status.Services) != 2 {
		t.Errorf("status from a subfolder: %s with %d services; want ctx-dev with web and worker", status.Name, len(status.Services))
	}
	if rels := mustRun(t, d, "releases"); !strings.Contains(rels.stdout, "*1") {
		t.Errorf("releases from a subfolder: want ctx-dev's release 1 active")
	}
	// One argument naming a service of the project is that service.
	if logs := mustRun(t, d, "logs", "web", "--tail", "20"); !strings.Contains(logs.stdout, runtimetest.StartedMark) {
		t.Errorf("logs web from a subfolder lacks the app's start line")
	}
	// No argument: every service of the project's instance, prefixed by
	// replica; several arguments naming services: those services.
	if logs := mustRun(t, d, "logs", "--tail", "5"); !strings.Contains(logs.stdout, "web-r1-1") || !strings.Contains(logs.stdout, "worker-r1-1") {
		t.Errorf("logs from a subfolder without arguments lacks a service:\n%s", logs.stdout)
	}
	if logs := mustRun(t, d, "logs", "web", "worker", "--tail", "5"); !strings.Contains(logs.stdout, "web-r1-1 ") || !strings.Contains(logs.stdout, "worker-r1-1 |") {
		t.Errorf("logs web worker from a subfolder lacks a service or the aligned prefix:\n%s", logs.stdout)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if ex := run(t, d, "exec", "web", "--", exe, "echo", "in-ctx", "0"); ex.code != 0 || !strings.Contains(ex.stdout, "in-ctx") {
		t.Errorf("exec web from a subfolder: exit %d, stdout %q", ex.code, ex.stdout)
	}
	mustRun(t, d, "restart", "worker")

	// An explicit INSTANCE wins over the project.
	if o := mustRun(t, d, "status", "other-dev"); !strings.Contains(o.stdout, "other-dev") {
		t.Errorf("status other-dev inside ctx's project does not show other-dev")
	}
	// Another env of the project is another instance: not installed, said so.
	prod := run(t, d, "status", "-e", "prod")
	if prod.code != cli.ExitNotFound || !strings.Contains(prod.stderr, "ctx-prod") || !strings.Contains(prod.stderr, "quai up installs it") ||
		!strings.Contains(prod.stderr, dir) {
		t.Errorf("status -e prod: exit %d, stderr %q; want exit 3 naming ctx-prod, the project folder and quai up", prod.code, prod.stderr)
	}

	mustRun(t, d, "down")
	if st, err := d.Client.Status(context.Background(), "ctx-dev"); err != nil || st.State != wire.InstanceStopped {
		t.Errorf("down from a subfolder: ctx-dev is %v (%v); want stopped", st.State, err)
	}
	if o, err := d.Client.Status(context.Background(), "other-dev"); err != nil || o.State == wire.InstanceStopped {
		t.Errorf("down from ctx's project touched other-dev: %v %v", o.State, err)
	}
	mustRun(t, d, "start")
	mustRun(t, d, "rm", "-y")
	if _, err := d.Client.Status(context.Background(), "ctx-dev"); err == nil {
		t.Error("rm from a subfolder left ctx-dev installed")
	}

	// `up NAME` with an installed instance's name deploys its project.
	t.Chdir(t.TempDir())
	if r := mustRun(t, d, "up", "other-dev", "-y"); !strings.Contains(r.stdout, "other-dev") || !strings.Contains(r.stdout, "up to date") {
		t.Errorf("up other-dev: want other-dev up to date from its recorded folder")
	}
	if r := run(t, d, "up", "othr-dev", "-y"); r.code != cli.ExitNotFound || !strings.Contains(r.stderr, "neither a folder nor an installed instance") ||
		!strings.Contains(r.stderr, "other-dev") {
		t.Errorf("up othr-dev: exit %d, stderr %q; want exit 3, the explanation and other-dev suggested", r.code, r.stderr)
	}

	// Outside any project a verb without INSTANCE says what to do.
	for _, verb := range [][]string{{"status"}, {"logs"}, {"down"}, {"start"}, {"rm", "-y"}, {"releases"}, {"rollback"}, {"restart"}} {
		r := run(t, d, verb...)
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "needs an INSTANCE") || !strings.Contains(r.stderr, "compose.yaml") {
			t.Errorf("quai %s outside a project: exit %d, stderr %q; want exit 2 saying to pass INSTANCE or run it in a project", verb[0], r.code, r.stderr)
		}
	}
}

// TestStartAfterDown: down stops the app; start brings the same release
// back and the app answers again, without a new release; up of the
// unchanged, downed project does the same.
func TestStartAfterDown(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	dir := daemontest.AppProject(t, daemontest.App{Project: "back"})
	mustRun(t, d, "up", dir, "-y")
	answers := func() bool {
		req, _ := http.NewRequest(http.MethodGet, "http://"+d.ProxyHTTPAddr()+"/healthz", nil)
		req.Host = "back.dev.localhost"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	if !answers() {
		t.Fatal("back-dev does not answer after up")
	}

	// restart of a downed instance points at start.
	mustRun(t, d, "down", "back-dev")
	if answers() {
		t.Fatal("back-dev still answers after down")
	}
	if r := run(t, d, "restart", "back-dev"); r.code == 0 || !strings.Contains(r.stderr+r.stdout, "quai start") {
		t.Errorf("restart of a downed instance: exit %d; want a refusal naming quai start", r.code)
	}

	s := mustRun(t, d, "start", "back-dev")
	if !strings.Contains(s.stdout, "start release 1 again") || !strings.Contains(s.stdout, "runs release 1 again") {
		t.Errorf("start: want the plan starting release 1 again and the outcome")
	}
	if !answers() {
		t.Error("back-dev does not answer after start")
	}
	if st, err := d.Client.Status(context.Background(), "back-dev"); err != nil || st.State != wire.InstanceRunning || st.Release != 1 {
		t.Errorf("after start: %v release %d (%v); want running release 1", st.State, st.Release, err)
	}
	if again := mustRun(t, d, "start", "back-dev"); !strings.Contains(again.stdout, "is not down") {
		t.Errorf("start of a running instance: want it left as it is, saying so")
	}

	// up of the downed, unchanged project brings it back the same way.
	mustRun(t, d, "down", "back-dev")
	up := mustRun(t, d, "up", dir, "-y")
	if !strings.Contains(up.stdout, "start release 1 again") || !answers() {
		t.Errorf("up of a downed, unchanged instance: want release 1 started again and the app answering")
	}
	rels, err := d.Client.Releases(context.Background(), "back-dev")
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) != 1 || rels[0].Status != wire.ReleaseActive {
		t.Errorf("after down/start/down/up: %d releases; want release 1 alone, active", len(rels))
	}
}

// volumeProject is an AppProject whose web service keeps a named volume.
func volumeProject(t *testing.T, project string) string {
	t.Helper()
	dir := daemontest.AppProject(t, daemontest.App{Project: project})
	f := filepath.Join(dir, "compose.yaml")
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "    expose: [8080]\n", "    expose: [8080]\n    volumes: [\"data:/data\"]\n", 1) + "volumes:\n  data: {}\n"
	if err := os.WriteFile(f, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// volumeDir is where the process runtime keeps the volume of a default-org
// instance.
func volumeDir(t *testing.T, d *daemontest.Daemon, slug, volume string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(d.DataDir, "*", "instances", slug, "volumes", volume))
	m2, _ := filepath.Glob(filepath.Join(d.DataDir, "instances", slug, "volumes", volume))
	if m = append(m, m2...); len(m) != 1 {
		t.Fatalf("volume %s of %s: found %v under %s", volume, slug, m, d.DataDir)
	}
	return m[0]
}

// TestRmPurgeAfterRm: rm keeps the volumes and says so; rm --purge then
// deletes them (it said "not found" before), quai volumes lists them
// meanwhile, and after the purge nothing is left to find.
func TestRmPurgeAfterRm(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	dir := volumeProject(t, "keep")
	mustRun(t, d, "up", dir, "-y")
	vol := volumeDir(t, d, "default-keep-dev", "data")
	if err := os.WriteFile(filepath.Join(vol, "blob"), make([]byte, 3000), 0o600); err != nil {
		t.Fatal(err)
	}

	rm := mustRun(t, d, "rm", "keep-dev", "-y")
	if !strings.Contains(rm.stdout+rm.stderr, "volumes kept: data") {
		t.Errorf("rm: want the kept volume named")
	}
	ls := mustRun(t, d, "volumes", "ls")
	if !strings.Contains(ls.stdout, "keep-dev") || !strings.Contains(ls.stdout, "kept") || !strings.Contains(ls.stdout, "2.9KiB") {
		t.Errorf("volumes ls after rm: want keep-dev's data volume, kept, 2.9KiB")
	}
	var list wire.VolumeList
	if err := json.Unmarshal([]byte(mustRun(t, d, "volumes", "ls", "--json").stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Volumes) != 1 || list.Volumes[0].Name != "data" || list.Volumes[0].State != wire.VolumeKept || list.Volumes[0].Bytes != 3000 {
		t.Errorf("volumes ls --json: %+v; want data, kept, 3000 bytes", list.Volumes)
	}

	// A plain rm again says what was kept and how to delete it.
	again := run(t, d, "rm", "keep-dev", "-y")
	if again.code != cli.ExitNotFound || !strings.Contains(again.stderr, "rm --purge keep-dev") {
		t.Errorf("rm of a removed instance: exit %d, stderr %q; want exit 3 pointing at rm --purge", again.code, again.stderr)
	}
	purge := mustRun(t, d, "rm", "keep-dev", "--purge", "-y")
	if !strings.Contains(purge.stdout+purge.stderr, "deleted the volumes and data of keep-dev") {
		t.Errorf("rm --purge after rm: want the deleted volumes named")
	}
	if _, err := os.Stat(vol); !os.IsNotExist(err) {
		t.Errorf("the volume %s is still there after rm --purge: %v", vol, err)
	}
	if ls := mustRun(t, d, "volumes", "ls"); strings.Contains(ls.stdout, "keep-dev") {
		t.Errorf("volumes ls after the purge still lists keep-dev")
	}
	if gone := run(t, d, "rm", "keep-dev", "--purge", "-y"); gone.code != cli.ExitNotFound {
		t.Errorf("rm --purge of nothing left: exit %d, want 3", gone.code)
	}

	// volumes rm does the same, and refuses an installed instance's.
	mustRun(t, d, "up", dir, "-y")
	if r := run(t, d, "volumes", "rm", "keep-dev", "-y"); r.code == 0 || !strings.Contains(r.stderr, "rm --purge keep-dev") {
		t.Errorf("volumes rm of an installed instance: exit %d, stderr %q; want a refusal pointing at rm --purge", r.code, r.stderr)
	}
	mustRun(t, d, "rm", "keep-dev", "-y")
	mustRun(t, d, "volumes", "rm", "keep-dev", "-y")
	if _, err := os.Stat(vol); !os.IsNotExist(err) {
		t.Errorf("the volume is still there after volumes rm: %v", err)
	}
}

// TestPurgePromptListsWhatItDeletes: on a terminal, rm --purge lists the
// volumes it deletes with their sizes before asking for the name, for an
// installed instance and for one removed earlier.
func TestPurgePromptListsWhatItDeletes(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	term := openTerminal(t)
	dir := volumeProject(t, "ask")
	mustRun(t, d, "up", dir, "-y")
	vol := volumeDir(t, d, "default-ask-dev", "data")
	if err := os.WriteFile(filepath.Join(vol, "blob"), make([]byte, 5<<20), 0o600); err != nil {
		t.Fatal(err)
	}

	wait := term.start(d, "rm", "ask-dev", "--purge")
	term.answer("Type the instance name to confirm:", "no")
	term.answer("the name did not match", "")
	term.answer("the name did not match", "")
	if code := wait(); code != cli.ExitDeclined {
		t.Fatalf("rm --purge declined: exit %d", code)
	}
	screen := term.text()
	for _, want := range []string{"This deletes ask-dev for good", "volume data", "5.0MiB", "process runtime", "Its backups are a separate question"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the purge prompt lacks %q", want)
		}
	}

	mustRun(t, d, "rm", "ask-dev", "-y")
	wait = term.start(d, "rm", "ask-dev", "--purge")
	term.answer("Type the instance name to confirm:", "ask-dev")
	if code := wait(); code != 0 {
		t.Fatalf("rm --purge of the removed instance: exit %d", code)
	}
	screen = term.text()
	for _, want := range []string{"ask-dev was removed earlier", "volume data", "5.0MiB"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the purge prompt after rm lacks %q", want)
		}
	}
	if _, err := os.Stat(vol); !os.IsNotExist(err) {
		t.Errorf("the volume is still there after a confirmed purge: %v", err)
	}
}
