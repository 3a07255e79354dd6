package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/cli"
	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/daemon/serve"
	"github.com/quai-dev/quai/internal/proxyd/proxycmd"
	"github.com/quai-dev/quai/internal/runtime/runtimetest"
	"github.com/quai-dev/quai/internal/wire"
)

// envAsQuai makes the test binary behave as the quai binary, so that a verb
// that starts a daemon in the background (by re-executing itself) starts a
// real one.
const envAsQuai = "QUAI_TEST_BINARY_IS_QUAI"

func TestMain(m *testing.M) {
	daemontest.Child()
	if os.Getenv(envAsQuai) == "1" {
		os.Exit(cli.Main(os.Args[1:], serve.Command, proxycmd.Command))
	}
	os.Exit(m.Run())
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs one verb through cli.Run against the daemon's socket, with no
// terminal attached.
func run(t *testing.T, d *daemontest.Daemon, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	if d != nil {
		args = append([]string{"--socket", d.Socket}, args...)
	}
	code := cli.Run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	t.Logf("quai %s → %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return result{code, out.String(), errOut.String()}
}

func mustRun(t *testing.T, d *daemontest.Daemon, args ...string) result {
	t.Helper()
	r := run(t, d, args...)
	if r.code != 0 {
		t.Fatalf("quai %s exited %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

func TestNoDaemonSaysHowToStartIt(t *testing.T) {
	t.Setenv("QUAI_NO_AUTOSTART", "1")
	dir, err := os.MkdirTemp("", "quai-cli-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	r := run(t, nil, "ls", "--socket", filepath.Join(dir, "none.sock"))
	if r.code != cli.ExitUnavailable || !strings.Contains(r.stderr, "is the quai daemon running? start it with `quai serve`") {
		t.Fatalf("exit %d, stderr %q; want exit 4 and the hint", r.code, r.stderr)
	}
}

func TestUpDryRunPrintsThePlanAndChangesNothing(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	dir := daemontest.AppProject(t, daemontest.App{Project: "dry", Replicas: 2})
	r := mustRun(t, d, "up", dir, "--env", "dev", "--dry-run")
	for _, want := range []string{"dry-dev", "web", "create"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan output lacks %q", want)
		}
	}
	js := mustRun(t, d, "up", dir, "--env", "dev", "--dry-run", "--json")
	var p wire.Plan
	if err := json.Unmarshal([]byte(js.stdout), &p); err != nil {
		t.Fatalf("--dry-run --json is not a plan: %v", err)
	}
	if p.Instance != "dry-dev" || len(p.Services) != 1 || p.Services[0].Action != wire.ActionCreate || p.Services[0].To != 2 {
		t.Errorf("plan = %+v; want web created with 2 replicas", p)
	}
	ls := mustRun(t, d, "ls", "--json")
	var list []wire.Instance
	if err := json.Unmarshal([]byte(ls.stdout), &list); err != nil || len(list) != 0 {
		t.Errorf("after a dry run: instances %v (%v); want none", list, err)
	}
}

func TestInstanceLifecycle(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	dir := daemontest.AppProject(t, daemontest.App{Project: "shop", Worker: true})

	up := mustRun(t, d, "up", dir, "--env", "dev", "-y")
	if !strings.Contains(up.stdout, "shop-dev") || !strings.Contains(up.stdout, "done") || !strings.Contains(up.stdout, "http://") {
		t.Errorf("up output lacks the instance, the outcome or a URL")
	}

	ls := mustRun(t, d, "ls")
	if !strings.Contains(ls.stdout, "shop-dev") || !strings.Contains(ls.stdout, string(wire.InstanceRunning)) {
		t.Errorf("ls does not show shop-dev running")
	}

	st := mustRun(t, d, "status", "shop-dev")
	for _, want := range []string{"web", "worker", "healthy", "release 1"} {
		if !strings.Contains(st.stdout, want) {
			t.Errorf("status lacks %q", want)
		}
	}
	var status wire.InstanceStatus
	if err := json.Unmarshal([]byte(mustRun(t, d, "status", "shop-dev", "--json").stdout), &status); err != nil {
		t.Fatal(err)
	}
	if status.Release != 1 || len(status.Services) != 2 || status.Services[0].Ready != 1 {
		t.Errorf("status --json = %+v", status)
	}

	// An unknown instance is answered with the close match.
	bad := run(t, d, "status", "shop-dve")
	if bad.code != cli.ExitNotFound || !strings.Contains(bad.stderr, "shop-dev") {
		t.Errorf("status shop-dve: exit %d, stderr %q; want exit 3 suggesting shop-dev", bad.code, bad.stderr)
	}

	logs := mustRun(t, d, "logs", "shop-dev", "web", "--tail", "50")
	if !strings.Contains(logs.stdout, runtimetest.StartedMark) {
		t.Errorf("logs lack the app's start line")
	}
	// Every service's lines, merged in time order, prefixed with the
	// replica (padded as Compose does; no colours off a terminal).
	logs = mustRun(t, d, "logs", "shop-dev", "--timestamps", "--grep", runtimetest.StartedMark+"|"+runtimetest.StderrMark)
	prefixes := map[string]bool{}
	var prev time.Time
	for _, line := range strings.Split(strings.TrimSpace(logs.stdout), "\n") {
		prefix, rest, ok := strings.Cut(line, " | ")
		ts, _, _ := strings.Cut(rest, " ")
		at, err := time.Parse(time.RFC3339Nano, ts)
		if !ok || err != nil || strings.Contains(line, "\x1b[") {
			t.Fatalf("logs --timestamps line %q: want \"<replica> | <time> <line>\" without colours", line)
		}
		if at.Before(prev) {
			t.Errorf("line %q comes after a later one: the logs are not merged in time order", line)
		}
		prev = at
		prefixes[prefix] = true
	}
	if !prefixes["web-r1-1   "] || !prefixes["worker-r1-1"] || len(prefixes) != 2 {
		t.Errorf("logs of every service have the prefixes %v, want web-r1-1 padded and worker-r1-1:\n%s", prefixes, logs.stdout)
	}
	var last []wire.LogLine
	for _, l := range strings.Split(strings.TrimSpace(mustRun(t, d, "logs", "shop-dev", "worker", "web", "-n", "1", "--json").stdout), "\n") {
		var ll wire.LogLine
		if err := json.Unmarshal([]byte(l), &ll); err != nil {
			t.Fatalf("logs --json line %q: %v", l, err)
		}
		last = append(last, ll)
	}
	if len(last) != 2 || last[0].Time.After(last[1].Time) || last[0].Service == last[1].Service {
		t.Errorf("logs --tail 1 of two services = %+v, want one line of each, in time order", last)
	}

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ex := run(t, d, "exec", "shop-dev", "web", "--", exe, "echo", "hello-from-exec", "3")
	if ex.code != 3 || !strings.Contains(ex.stdout, "hello-from-exec") {
		t.Errorf("exec: exit %d stdout %q; want exit 3 and the echoed text", ex.code, ex.stdout)
	}

	// A changed service makes release 2; rollback makes release 3 from release 1.
	dir2 := daemontest.AppProject(t, daemontest.App{Project: "shop", Worker: true, Version: "2"})
	mustRun(t, d, "up", dir2, "--env", "dev", "-y")
	rels := mustRun(t, d, "releases", "shop-dev")
	if !strings.Contains(rels.stdout, "*2") || !strings.Contains(rels.stdout, "superseded") {
		t.Errorf("releases: want release 2 active and 1 superseded")
	}
	mustRun(t, d, "rollback", "shop-dev")
	var list []wire.Release
	if err := json.Unmarshal([]byte(mustRun(t, d, "releases", "shop-dev", "--json").stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].Number != 3 || list[0].Status != wire.ReleaseActive || list[0].Hashes["web"] != findRelease(list, 1).Hashes["web"] {
		t.Errorf("after rollback: releases %+v; want 3 active with release 1's hashes", summarize(list))
	}

	// A refused rollback is an error with its status's hint, printed once,
	// not a failed operation.
	typo := run(t, d, "rollback", "shop-dve")
	if typo.code != cli.ExitNotFound || !strings.Contains(typo.stderr, "error: ") || !strings.Contains(typo.stderr, "did you mean shop-dev?") {
		t.Errorf("rollback shop-dve: exit %d, stderr %q; want exit 3 and \"did you mean shop-dev?\"", typo.code, typo.stderr)
	}
	far := run(t, d, "rollback", "shop-dev", "--to", "99")
	if far.code != cli.ExitNotFound || !strings.Contains(far.stderr, "error: shop-dev has no release 99") || !strings.Contains(far.stderr, "`quai releases INSTANCE` lists the releases") {
		t.Errorf("rollback --to 99: exit %d, stderr %q; want exit 3, the error and its hint", far.code, far.stderr)
	}

	mustRun(t, d, "restart", "shop-dev", "worker")

	// rm refuses without -y when nobody can be asked, and keeps the instance.
	rm := run(t, d, "rm", "shop-dev", "--purge")
	if rm.code != cli.ExitUsage || !strings.Contains(rm.stderr, "-y") {
		t.Errorf("rm --purge without -y: exit %d stderr %q; want a refusal naming -y", rm.code, rm.stderr)
	}
	if !strings.Contains(mustRun(t, d, "ls").stdout, "shop-dev") {
		t.Fatal("the refused rm removed the instance")
	}
	mustRun(t, d, "down", "shop-dev")
	mustRun(t, d, "rm", "shop-dev", "--purge", "-y")
	if strings.Contains(mustRun(t, d, "ls").stdout, "shop-dev") {
		t.Error("shop-dev still listed after rm")
	}
}

func findRelease(list []wire.Release, n int) wire.Release {
	for _, r := range list {
		if r.Number == n {
			return r
		}
	}
	return wire.Release{}
}

func summarize(list []wire.Release) []string {
	var out []string
	for _, r := range list {
		out = append(out, string(r.Status)+" "+r.Cause)
	}
	return out
}

func TestUpJSONStreamsEvents(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	dir := daemontest.AppProject(t, daemontest.App{Project: "js"})
	r := mustRun(t, d, "up", dir, "--env", "dev", "--json")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var last wire.Event
	for _, l := range lines {
		if err := json.Unmarshal([]byte(l), &last); err != nil {
			t.Fatalf("line %q is not an event: %v", l, err)
		}
	}
	if len(lines) < 3 || last.Kind != wire.EventDone || last.Release != 1 {
		t.Errorf("%d events, last %+v; want several ending with done release 1", len(lines), last)
	}
}

func TestVerbStartsADaemonWhenNoneRuns(t *testing.T) {
	t.Setenv(envAsQuai, "1")
	t.Setenv("QUAI_NO_AUTOSTART", "")
	t.Setenv("QUAI_HTTP", "127.0.0.1:0")
	t.Setenv("QUAI_HTTPS", "off")
	dir, err := os.MkdirTemp("", "quai-auto-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	r := run(t, nil, "--data-dir", dir, "ls")
	if r.code != 0 || !strings.Contains(r.stdout, "no instances") {
		t.Fatalf("ls: exit %d; want 0 and an empty list", r.code)
	}
	pidText, err := os.ReadFile(filepath.Join(dir, "quai.pid"))
	if err != nil {
		t.Fatalf("no pid file after auto-start: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err != nil {
		t.Fatal(err)
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// SIGTERM is the graceful stop; the daemon removes its socket when
		// done. Its proxy process outlives it by design: stopped after it.
		defer daemontest.StopProxy(t, dir)
		_ = proc.Signal(syscall.SIGTERM)
		c := client.New(filepath.Join(dir, "quai.sock"))
		for range 200 {
			if _, err := c.Info(context.Background()); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Errorf("daemon %d still answers after SIGTERM", pid)
	})
	want := fmt.Sprintf("started quai daemon (pid %d, logs %s)", pid, filepath.Join(dir, "daemon.log"))
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q lacks %q", r.stderr, want)
	}
	// The next verb finds it running and starts nothing.
	r2 := run(t, nil, "--data-dir", dir, "ls")
	if r2.code != 0 || strings.Contains(r2.stderr, "started") {
		t.Errorf("second ls: exit %d, stderr %q; want the running daemon reused", r2.code, r2.stderr)
	}
}
