// Package runtimetest is the conformance suite every runtime must pass, and
// the small HTTP test app it runs (AppMain). It has two halves, one per
// way of deploying, and a runtime's test calls the one it implements with a
// factory that returns the runtime and knows how to run the test app on it:
//
//   - RunReplicaRunner (process, docker) drives runtime.ReplicaRunner:
//     Start, Stop, Remove, Reattach, replica by replica.
//   - RunApplier (kubernetes) drives runtime.Applier through whole
//     instances: the same subtests, under the same names, apply a model of
//     one or two services running the test app and read replicas back
//     through State. There, stopping is Down (the app records its SIGTERM
//     and its exit in its volume, which Down keeps, since the logs go with
//     the replica), removing is Delete with and without purge, and each
//     subtest owns an instance that its cleanup purges.
//
// Both halves first run the Core checks every runtime passes (Capabilities
// agree with the optional interfaces, one deployment capability, unknown
// handles and instances).
//
// RestartNoLeavesCrashedExited is not in the applier half: restart "no" has
// no equivalent there (a Kubernetes Deployment's or StatefulSet's pods
// always restart, and render does not render restart). Subtests are left
// out rather than skipped, because CI fails on any skip.
//
// It imports internal/runtime and internal/stack only; it is imported by
// runtime tests, never by production code.
package runtimetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// Target is what a runtime under test gives the suite.
type Target struct {
	// Runtime is a fresh runtime with its own state; it implements the
	// capability of the half that runs (runtime.ReplicaRunner or
	// runtime.Applier).
	Runtime runtime.Runtime
	// Reopen returns a new runtime over the same state, as a restarted
	// daemon would build it. The suite closes the previous one first.
	Reopen func(t *testing.T) runtime.Runtime
	// Prepare completes a ReplicaSpec built by the suite (service name,
	// environment, health, mounts, restart policy) so that it runs the test
	// app on this runtime: a process command, an image, ... It must keep
	// what the suite set. In the applier half the spec's Service is
	// what the suite then puts in the model it applies.
	Prepare func(t *testing.T, rs *runtime.ReplicaSpec)
	// AppCommand is the test app's argv as seen inside a replica, for Exec
	// and command health checks (e.g. ["/app"] in an image).
	AppCommand []string
}

// Factory returns a new Target; it is called once per subtest (and once by
// Run, whose runtime starts nothing) and must register cleanups that stop
// everything the runtime started.
type Factory func(t *testing.T) Target

// Timeouts bound how long the suite waits for a runtime; they are deadlines,
// never assertions on speed.
const (
	waitHealthy = 60 * time.Second
	waitState   = 30 * time.Second
)

// RunReplicaRunner runs the Core checks and the replica-runner half of the
// suite: the factory's runtimes must implement runtime.ReplicaRunner.
func RunReplicaRunner(t *testing.T, factory Factory) {
	runCore(t, factory)
	tests := []struct {
		name string
		fn   func(*testing.T, *suite)
	}{
		{"StartHealthyServes", testStartHealthy},
		{"StopIsGraceful", testStopGraceful},
		{"StopKillsAfterGrace", testStopKills},
		{"CrashIsRestarted", testCrashRestarted},
		{"RestartNoLeavesCrashedExited", testRestartNo},
		{"Logs", testLogs},
		{"Exec", testExec},
		{"ReattachAfterDaemonRestart", testReattach},
		{"VolumeKeepsDataAcrossReplacement", testVolume},
		{"List", testList},
		{"Remove", testRemove},
		{"UnhealthyIsReported", testUnhealthy},
		{"CommandHealthcheck", testCommandHealthcheck},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tgt := factory(t)
			if _, ok := tgt.Runtime.(runtime.ReplicaRunner); !ok {
				t.Fatalf("the factory returned a %T, which is not a runtime.ReplicaRunner", tgt.Runtime)
			}
			s := &suite{t: t, tgt: tgt, rt: tgt.Runtime}
			t.Cleanup(s.cleanup)
			tc.fn(t, s)
		})
	}
}

// suite tracks what a subtest started so that cleanup stops it, with
// whichever runtime is current (Reopen replaces it).
type suite struct {
	t   *testing.T
	tgt Target
	mu  sync.Mutex
	rt  runtime.Runtime
	hs  []runtime.Handle
}

func (s *suite) runtime() runtime.Runtime {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rt
}

// runner is the current runtime as the runtime.ReplicaRunner
// RunReplicaRunner checked it is.
func (s *suite) runner() runtime.ReplicaRunner {
	return s.runtime().(runtime.ReplicaRunner)
}

func (s *suite) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rt := s.runner()
	for _, h := range s.hs {
		if err := rt.Remove(ctx, h); err != nil {
			s.t.Errorf("cleanup: remove %s: %v", h.Replica, err)
		}
	}
	if err := rt.Close(); err != nil {
		s.t.Errorf("cleanup: close runtime: %v", err)
	}
}

// app describes a test app replica.
type app struct {
	instance    stack.Identity
	replica     string
	env         map[string]string
	healthPath  string
	healthcheck *stack.Healthcheck
	mounts      []stack.Mount
	restart     string
}

var testInstance = stack.Identity{Org: "default", Project: "conformance", Env: "test"}

func (s *suite) spec(a app) runtime.ReplicaSpec {
	if a.instance == (stack.Identity{}) {
		a.instance = testInstance
	}
	if a.replica == "" {
		a.replica = "web-1"
	}
	svcName, _, _ := strings.Cut(a.replica, "-")
	env := map[string]string{"QUAI_TEST_MARKER": "marker-" + a.replica}
	maps.Copy(env, a.env)
	rs := runtime.ReplicaSpec{
		Instance: a.instance,
		Service: &stack.Service{
			Name:        svcName,
			Environment: env,
			Expose:      []int{8080},
			HealthPath:  a.healthPath,
			Healthcheck: a.healthcheck,
			Mounts:      a.mounts,
			Restart:     a.restart,
			Replicas:    1,
			Hash:        "conformance",
		},
		Release: 1,
		Index:   1,
		Replica: a.replica,
		Labels:  map[string]string{"quai.test": "conformance"},
	}
	s.tgt.Prepare(s.t, &rs)
	return rs
}

func (s *suite) start(a app) runtime.Handle {
	s.t.Helper()
	rs := s.spec(a)
	ctx, cancel := context.WithTimeout(context.Background(), waitState)
	defer cancel()
	h, err := s.runner().Start(ctx, rs)
	if err != nil {
		s.t.Fatalf("start %s: %v", a.replica, err)
	}
	s.hs = append(s.hs, h)
	if h.Replica != rs.Replica || h.Service != rs.Service.Name || h.Instance != rs.Instance || h.ID == "" {
		s.t.Fatalf("handle does not describe the replica: %+v", h)
	}
	if h.Runtime != s.runtime().Name() || h.Version != runtime.HandleVersion {
		s.t.Fatalf("handle runtime/version = %q/%d, want %q/%d", h.Runtime, h.Version, s.runtime().Name(), runtime.HandleVersion)
	}
	return h
}

// until polls cond until it returns true or the deadline passes.
func (s *suite) until(what string, timeout time.Duration, cond func() (bool, string)) {
	s.t.Helper()
	until(s.t, what, timeout, cond)
}

// until polls cond until it returns true, and fails the test when the
// deadline passes first, with what cond last said.
func until(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not the case after %s; last: %s", what, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *suite) inspect(h runtime.Handle) (runtime.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.runtime().Inspect(ctx, h)
}

func (s *suite) waitStatus(h runtime.Handle, what string, cond func(runtime.Status) bool) runtime.Status {
	s.t.Helper()
	var st runtime.Status
	timeout := waitState
	if strings.Contains(what, "health") {
		timeout = waitHealthy
	}
	s.until(h.Replica+" "+what, timeout, func() (bool, string) {
		var err error
		st, err = s.inspect(h)
		if err != nil {
			return false, err.Error()
		}
		return cond(st), fmt.Sprintf("%+v", st)
	})
	return st
}

func (s *suite) waitHealthy(h runtime.Handle) runtime.Status {
	s.t.Helper()
	return s.waitStatus(h, "healthy", func(st runtime.Status) bool {
		return st.Healthy() && st.Health == runtime.HealthHealthy
	})
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

func get(h runtime.Handle, path string) (string, error) {
	if h.Address == "" {
		return "", errors.New("handle has no address")
	}
	resp, err := httpClient.Get("http://" + h.Address + path)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
	}
	return string(b), nil
}

func (s *suite) mustGet(h runtime.Handle, path string) string {
	s.t.Helper()
	return mustGet(s.t, h, path)
}

func mustGet(t *testing.T, h runtime.Handle, path string) string {
	t.Helper()
	body, err := get(h, path)
	if err != nil {
		t.Fatalf("replica %s: %v", h.Replica, err)
	}
	return body
}

func (s *suite) logs(h runtime.Handle, opts runtime.LogOptions) string {
	s.t.Helper()
	return readLogs(s.t, s.runtime(), h, opts)
}

func readLogs(t *testing.T, rt runtime.Runtime, h runtime.Handle, opts runtime.LogOptions) string {
	t.Helper()
	lg, ok := rt.(runtime.Logger)
	if !ok {
		t.Skip("runtime does not implement runtime.Logger")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := lg.Logs(ctx, h, opts)
	if err != nil {
		t.Fatalf("logs of %s: %v", h.Replica, err)
	}
	defer func() { _ = rc.Close() }()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read logs of %s: %v", h.Replica, err)
	}
	return string(b)
}

func testStartHealthy(t *testing.T, s *suite) {
	h := s.start(app{healthPath: "/healthz"})
	st := s.waitHealthy(h)
	if st.State != runtime.StateRunning || st.Started.IsZero() {
		t.Errorf("status = %+v, want running with a start time", st)
	}
	if body := s.mustGet(h, "/"); !strings.HasPrefix(body, "ok pid=") {
		t.Errorf("GET / = %q, want ok pid=...", body)
	}
	if got := s.mustGet(h, "/env?name=QUAI_TEST_MARKER"); got != "marker-web-1" {
		t.Errorf("service environment QUAI_TEST_MARKER = %q, want marker-web-1", got)
	}
}

func testStopGraceful(t *testing.T, s *suite) {
	h := s.start(app{healthPath: "/healthz"})
	s.waitHealthy(h)
	ctx := context.Background()
	if err := s.runner().Stop(ctx, h, 10*time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	st, err := s.inspect(h)
	if err != nil {
		t.Fatalf("inspect after stop: %v", err)
	}
	if st.State != runtime.StateStopped && st.State != runtime.StateExited {
		t.Errorf("state after stop = %s, want stopped", st.State)
	}
	if st.Healthy() {
		t.Errorf("a stopped replica reports healthy: %+v", st)
	}
	if _, err := get(h, "/"); err == nil {
		t.Errorf("the replica still answers at %s after Stop", h.Address)
	}
	if logs := s.logs(h, runtime.LogOptions{}); !strings.Contains(logs, SigtermMark) {
		t.Errorf("the app did not see SIGTERM (no %q in its logs):\n%s", SigtermMark, logs)
	}
	if err := s.runner().Stop(ctx, h, time.Second); err != nil {
		t.Errorf("stopping a stopped replica: %v", err)
	}
}

func testStopKills(t *testing.T, s *suite) {
	h := s.start(app{healthPath: "/healthz", env: map[string]string{"IGNORE_SIGTERM": "1"}})
	s.waitHealthy(h)
	if err := s.runner().Stop(context.Background(), h, 500*time.Millisecond); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := get(h, "/"); err == nil {
		t.Errorf("an app that ignores SIGTERM still answers after Stop with a grace period")
	}
	if logs := s.logs(h, runtime.LogOptions{}); !strings.Contains(logs, SigtermMark) {
		t.Errorf("the app was killed without SIGTERM first:\n%s", logs)
	}
}

func testCrashRestarted(t *testing.T, s *suite) {
	h := s.start(app{healthPath: "/healthz", restart: "on-failure"})
	s.waitHealthy(h)
	pid := s.mustGet(h, "/pid")
	s.mustGet(h, "/crash")
	st := s.waitStatus(h, "restarted and healthy", func(st runtime.Status) bool {
		return st.Restarts >= 1 && st.Healthy() && st.Health == runtime.HealthHealthy
	})
	if st.Restarts < 1 {
		t.Errorf("restarts = %d, want >= 1", st.Restarts)
	}
	if got := s.mustGet(h, "/pid"); got == pid {
		t.Errorf("the app still has pid %s after crashing", pid)
	}
}

func testRestartNo(t *testing.T, s *suite) {
	h := s.start(app{healthPath: "/healthz", restart: "no"})
	s.waitHealthy(h)
	s.mustGet(h, "/crash")
	st := s.waitStatus(h, "exited", func(st runtime.Status) bool { return st.State == runtime.StateExited })
	if st.ExitCode != 3 || st.Restarts != 0 {
		t.Errorf("status = %+v, want exit code 3 and no restart", st)
	}
}

func testLogs(t *testing.T, s *suite) {
	h := s.start(app{healthPath: "/healthz"})
	s.waitHealthy(h)
	checkLogs(t, s.runtime(), h)
	checkLogTimes(t, s.runtime(), h)
	// The runtime's health probes say who they are, to the app itself.
	if ua := s.mustGet(h, "/health-agent"); ua != runtime.HealthUserAgent {
		t.Errorf("the app saw health probes with User-Agent %q, want %q", ua, runtime.HealthUserAgent)
	}
	// A runtime that keeps logs shows a removed replica's lines.
	keeper, ok := s.runtime().(runtime.LogKeeper)
	if !ok {
		return
	}
	if err := s.runner().Remove(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	s.hs = slices.DeleteFunc(s.hs, func(x runtime.Handle) bool { return x.Replica == h.Replica })
	kept, err := keeper.KeptLogs(context.Background(), h.Instance)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(kept, func(k runtime.Handle) bool { return k.Replica == h.Replica })
	if i < 0 {
		t.Fatalf("kept logs %+v lack the removed replica %s", kept, h.Replica)
	}
	if k := kept[i]; k.Service != h.Service || k.Instance.Slug() != h.Instance.Slug() {
		t.Errorf("kept handle %+v does not name the replica's service and instance", k)
	}
	if l := readLogs(t, s.runtime(), kept[i], runtime.LogOptions{}); !strings.Contains(l, "second-line") || !strings.Contains(l, StartedMark) {
		t.Errorf("the removed replica's kept logs lack its lines:\n%s", l)
	}
}

// checkLogTimes checks Timestamps and Until on a replica whose logs hold
// StartedMark and, later, second-line (see checkLogs).
func checkLogTimes(t *testing.T, rt runtime.Runtime, h runtime.Handle) {
	t.Helper()
	var second time.Time
	var prev time.Time
	for _, line := range strings.Split(strings.TrimSpace(readLogs(t, rt, h, runtime.LogOptions{Timestamps: true})), "\n") {
		ts, text, _ := strings.Cut(line, " ")
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			t.Fatalf("with Timestamps, line %q does not start with an RFC 3339 time: %v", line, err)
		}
		if at.Before(prev) {
			t.Errorf("line %q is older than the one before it (%s)", line, prev)
		}
		prev = at
		if text == "second-line" && second.IsZero() {
			second = at
		}
	}
	if second.IsZero() {
		t.Fatal("no second-line among the timestamped lines")
	}
	before := readLogs(t, rt, h, runtime.LogOptions{Until: second})
	if strings.Contains(before, "second-line") || !strings.Contains(before, StartedMark) {
		t.Errorf("logs until second-line's time = %q, want what came before it only", before)
	}
	if from := readLogs(t, rt, h, runtime.LogOptions{Since: second}); !strings.HasPrefix(from, "second-line\n") {
		t.Errorf("logs since second-line's time = %q, want it first", from)
	}
}

// checkLogs checks a serving replica's logs: both streams, new lines, tail,
// since and follow.
func checkLogs(t *testing.T, rt runtime.Runtime, h runtime.Handle) {
	t.Helper()
	all := readLogs(t, rt, h, runtime.LogOptions{})
	for _, want := range []string{StartedMark, StderrMark} {
		if !strings.Contains(all, want) {
			t.Errorf("logs lack %q:\n%s", want, all)
		}
	}
	mustGet(t, h, "/log?msg=second-line")
	until(t, "logs show second-line", waitState, func() (bool, string) {
		l := readLogs(t, rt, h, runtime.LogOptions{})
		return strings.Contains(l, "second-line"), l
	})
	if tail := readLogs(t, rt, h, runtime.LogOptions{Tail: 1}); strings.Count(tail, "\n") != 1 {
		t.Errorf("tail 1 returned %q, want one line", tail)
	}
	if future := readLogs(t, rt, h, runtime.LogOptions{Since: time.Now().Add(time.Hour)}); future != "" {
		t.Errorf("logs since an hour from now = %q, want nothing", future)
	}

	lg := rt.(runtime.Logger)
	ctx, cancel := context.WithTimeout(context.Background(), waitState)
	defer cancel()
	rc, err := lg.Logs(ctx, h, runtime.LogOptions{Follow: true, Tail: 1})
	if err != nil {
		t.Fatalf("follow logs: %v", err)
	}
	defer func() { _ = rc.Close() }()
	mustGet(t, h, "/log?msg=followed-line")
	var got bytes.Buffer
	buf := make([]byte, 4096)
	for !strings.Contains(got.String(), "followed-line") {
		n, err := rc.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("following logs ended before the new line (%v); got:\n%s", err, got.String())
		}
	}
}

func testExec(t *testing.T, s *suite) {
	h := s.start(app{healthPath: "/healthz"})
	s.waitHealthy(h)
	checkExec(t, s.runtime(), h, s.tgt.AppCommand, "marker-web-1")
}

// checkExec runs the test app's commands in a replica whose environment
// holds marker as QUAI_TEST_MARKER.
func checkExec(t *testing.T, rt runtime.Runtime, h runtime.Handle, appCommand []string, marker string) {
	t.Helper()
	ex, ok := rt.(runtime.Execer)
	if !ok {
		t.Skip("runtime does not implement runtime.Execer")
	}
	run := func(args ...string) (string, int) {
		t.Helper()
		var out, errb bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), waitState)
		defer cancel()
		code, err := ex.Exec(ctx, h, runtime.ExecOptions{Cmd: append(slices.Clone(appCommand), args...), Stdout: &out, Stderr: &errb})
		if err != nil {
			t.Fatalf("exec %v: %v (stderr %q)", args, err, errb.String())
		}
		return out.String(), code
	}
	if out, code := run("echo", "hello-from-exec", "7"); out != "hello-from-exec\n" || code != 7 {
		t.Errorf("exec echo = %q, %d; want %q, 7", out, code, "hello-from-exec\n")
	}
	if out, code := run("getenv", "QUAI_TEST_MARKER"); out != marker+"\n" || code != 0 {
		t.Errorf("exec sees QUAI_TEST_MARKER = %q (exit %d), want %q from the replica's environment", out, code, marker)
	}
}

func testReattach(t *testing.T, s *suite) {
	h := s.start(app{healthPath: "/healthz"})
	s.waitHealthy(h)
	pid := s.mustGet(h, "/pid")

	// The engine persists the handle as JSON; a restarted daemon reads it back.
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var persisted runtime.Handle
	if err := json.Unmarshal(b, &persisted); err != nil {
		t.Fatal(err)
	}
	if err := s.runtime().Close(); err != nil {
		t.Fatalf("close the first runtime: %v", err)
	}
	if got := s.mustGet(h, "/pid"); got != pid {
		t.Fatalf("closing the runtime touched the app: pid %s, want %s", got, pid)
	}
	s.mu.Lock()
	s.rt = s.tgt.Reopen(t)
	s.mu.Unlock()
	rt2 := s.runner()
	if err := rt2.Reattach(context.Background(), persisted); err != nil {
		t.Fatalf("reattach: %v", err)
	}
	st := s.waitHealthy(persisted)
	if st.Restarts != 0 {
		t.Errorf("restarts after reattach = %d, want 0", st.Restarts)
	}
	if got := s.mustGet(persisted, "/pid"); got != pid {
		t.Errorf("after reattach the app has pid %s, want the same process %s", got, pid)
	}
	// Restart policy keeps working under the new daemon.
	s.mustGet(persisted, "/crash")
	s.waitStatus(persisted, "restarted and healthy after reattach", func(st runtime.Status) bool {
		return st.Restarts >= 1 && st.Health == runtime.HealthHealthy
	})

	bogus := persisted
	bogus.Replica = "web-9"
	if err := rt2.Reattach(context.Background(), bogus); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("reattach of a replica that never ran: %v, want ErrNotFound", err)
	}
}

func testVolume(t *testing.T, s *suite) {
	mounts := []stack.Mount{{Type: stack.MountVolume, Source: "data", Target: "/data"}}
	env := map[string]string{"DATA_DIR": "/data"}
	h1 := s.start(app{replica: "web-1", healthPath: "/healthz", mounts: mounts, env: env})
	s.waitHealthy(h1)
	s.mustGet(h1, "/write?value=kept-across-replicas")
	ctx := context.Background()
	if err := s.runner().Stop(ctx, h1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.runner().Remove(ctx, h1); err != nil {
		t.Fatal(err)
	}
	h2 := s.start(app{replica: "web-2", healthPath: "/healthz", mounts: mounts, env: env})
	s.waitHealthy(h2)
	if got := s.mustGet(h2, "/read"); got != "kept-across-replicas" {
		t.Errorf("the new replica reads %q from the volume, want kept-across-replicas", got)
	}
	vm, ok := s.runtime().(runtime.VolumeManager)
	if !ok {
		return
	}
	vols, err := vm.Volumes(ctx, testInstance)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(vols, func(v string) bool { return strings.Contains(v, "data") }) {
		t.Errorf("volumes = %v, want one named after data", vols)
	}
	if err := s.runner().Remove(ctx, h2); err != nil {
		t.Fatal(err)
	}
	if err := vm.RemoveVolumes(ctx, testInstance); err != nil {
		t.Fatal(err)
	}
	if vols, err := vm.Volumes(ctx, testInstance); err != nil || len(vols) != 0 {
		t.Errorf("volumes after RemoveVolumes = %v, %v; want none", vols, err)
	}
}

func testList(t *testing.T, s *suite) {
	other := stack.Identity{Org: "default", Project: "conformance", Env: "other"}
	a := s.start(app{replica: "web-1"})
	b := s.start(app{replica: "worker-1"})
	c := s.start(app{replica: "web-1", instance: other})
	hs, err := s.runtime().List(context.Background(), testInstance)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range hs {
		names = append(names, h.Replica)
		if h.Instance != testInstance {
			t.Errorf("List(%s) returned a replica of %s", testInstance, h.Instance)
		}
		if h.Replica == a.Replica && h.ID != a.ID {
			t.Errorf("listed handle id %q, want %q", h.ID, a.ID)
		}
	}
	slices.Sort(names)
	if want := []string{a.Replica, b.Replica}; !slices.Equal(names, want) {
		t.Errorf("List = %v, want %v", names, want)
	}
	hs, err = s.runtime().List(context.Background(), other)
	if err != nil || len(hs) != 1 || hs[0].ID != c.ID {
		t.Errorf("List(other) = %+v, %v; want only %s", hs, err, c.ID)
	}
}

func testRemove(t *testing.T, s *suite) {
	h := s.start(app{healthPath: "/healthz"})
	s.waitHealthy(h)
	if err := s.runner().Remove(context.Background(), h); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if _, err := s.inspect(h); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("inspect after remove: %v, want ErrNotFound", err)
	}
	if _, err := get(h, "/"); err == nil {
		t.Errorf("a removed replica still answers")
	}
	hs, err := s.runtime().List(context.Background(), testInstance)
	if err != nil || len(hs) != 0 {
		t.Errorf("List after remove = %+v, %v; want nothing", hs, err)
	}
	if err := s.runner().Reattach(context.Background(), h); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("reattach after remove: %v, want ErrNotFound", err)
	}
}

func testUnhealthy(t *testing.T, s *suite) {
	h := s.start(app{healthPath: "/healthz", env: map[string]string{"UNHEALTHY": "1"}})
	st := s.waitStatus(h, "unhealthy", func(st runtime.Status) bool { return st.Health == runtime.HealthUnhealthy })
	if st.Healthy() || st.State != runtime.StateRunning {
		t.Errorf("status = %+v, want running and not healthy", st)
	}
	if !strings.Contains(st.Message, "503") {
		t.Errorf("message %q does not say why the check failed", st.Message)
	}
}

func testCommandHealthcheck(t *testing.T, s *suite) {
	test := append([]string{"CMD"}, s.tgt.AppCommand...)
	test = append(test, "probe", "/healthz")
	hc := &stack.Healthcheck{Test: test, Interval: time.Second, Timeout: 5 * time.Second, Retries: 2}
	good := s.start(app{replica: "web-1", healthcheck: hc})
	bad := s.start(app{replica: "web-2", healthcheck: hc, env: map[string]string{"UNHEALTHY": "1"}})
	s.waitHealthy(good)
	s.waitStatus(bad, "unhealthy by command", func(st runtime.Status) bool { return st.Health == runtime.HealthUnhealthy })
}
