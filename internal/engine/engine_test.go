package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/proxy"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/process"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
	"github.com/quai-dev/quai/internal/wire"
)

const appHost = "app.test.localhost"

var appID = stack.Identity{Org: stack.DefaultOrg, Project: "app", Env: "test"}

// harness is a control plane as the daemon wires it: a SQLite store, the
// process runtime, the proxy listening on loopback, and the engine.
type harness struct {
	t         *testing.T
	storePath string
	dataDir   string
	projDir   string
	store     *store.SQLite
	rt        *process.Runtime
	proxy     *proxy.Proxy
	eng       *Engine
	client    *http.Client
	// wrap, when set, stands between the engine and the process runtime.
	wrap func(*process.Runtime) runtime.Runtime
	// secrets, when set, opens the project's sealed secrets.
	secrets SecretOpener
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, nil)
}

// newHarnessWith is newHarness with configure applied before the engine
// starts.
func newHarnessWith(t *testing.T, configure func(*harness)) *harness {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real processes")
	}
	h := &harness{t: t, dataDir: t.TempDir(), projDir: t.TempDir()}
	if configure != nil {
		configure(h)
	}
	h.storePath = filepath.Join(t.TempDir(), "quai.db")
	var err error
	if h.store, err = store.Open(h.storePath); err != nil {
		t.Fatal(err)
	}
	h.client = &http.Client{Timeout: 10 * time.Second}
	h.start()
	t.Cleanup(h.cleanup)
	return h
}

// start builds a new runtime, proxy and engine over the same store and data
// directory: what a restarted daemon does.
func (h *harness) start() {
	t := h.t
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h.rt, err = process.New(process.Options{DataDir: h.dataDir, ShimPath: exe, HealthInterval: 100 * time.Millisecond,
		StopGrace: 5 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	h.proxy, err = proxy.New(proxy.Config{HTTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.proxy.Start(); err != nil {
		t.Fatal(err)
	}
	var rt runtime.Runtime = h.rt
	if h.wrap != nil {
		rt = h.wrap(h.rt)
	}
	h.eng, err = New(Options{
		Store: h.store, Runtimes: map[string]runtime.Runtime{rt.Name(): rt}, Router: h.proxy,
		HealthTimeout: 30 * time.Second, DrainTimeout: 5 * time.Second, StopGrace: 5 * time.Second,
		PollInterval: 50 * time.Millisecond, Secrets: h.secrets,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// crash drops the engine, runtime and proxy without stopping any replica,
// as a daemon that dies does.
func (h *harness) crash() {
	_ = h.eng.Close()
	_ = h.rt.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = h.proxy.Shutdown(ctx)
}

// cleanup stops whatever the test left running, through a fresh runtime so
// that it works whatever state the test ended in.
func (h *harness) cleanup() {
	h.crash()
	h.removeReplicas(appID)
	_ = h.store.Close()
}

// get requests path from the app through the proxy.
func (h *harness) get(path string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+h.proxy.HTTPAddr()+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = appHost
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func (h *harness) mustGet(t *testing.T, path string) string {
	t.Helper()
	code, body, err := h.get(path)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s through the proxy: %d %q %v", path, code, body, err)
	}
	return body
}

// events records an operation's events.
type events struct {
	mu   sync.Mutex
	list []Event
}

func (ev *events) emit(e Event) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	ev.list = append(ev.list, e)
}

func (ev *events) kinds() []EventKind {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	var out []EventKind
	for _, e := range ev.list {
		out = append(out, e.Kind)
	}
	return out
}

// checkTerminal asserts that the stream ends with exactly one terminal
// event, of the wanted kind; want "" asserts an operation refused before
// its first event, which emits nothing (its caller answers the error).
func (ev *events) checkTerminal(t *testing.T, want EventKind) {
	t.Helper()
	kinds := ev.kinds()
	if want == "" {
		if len(kinds) != 0 {
			t.Errorf("events %v: want none from an operation refused before it began", kinds)
		}
		return
	}
	n := 0
	for _, k := range kinds {
		if k == EventDone || k == EventFailed {
			n++
		}
	}
	if n != 1 || len(kinds) == 0 || kinds[len(kinds)-1] != want {
		t.Errorf("events %v: want exactly one terminal event, last, of kind %s", kinds, want)
	}
}

// serviceHash stands in for the loader's hash: any change of the service
// but its replica count and dependencies changes it.
func serviceHash(s *stack.Service) string {
	c := *s
	c.Hash, c.Replicas, c.DependsOn = "", 0, nil
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// appModel is a two-service stack: web (2 replicas, routed, health checked)
// reaches backend (1 replica, with a volume) through BACKEND_URL, which the
// engine rewrites to backend's address.
func (h *harness) appModel(version string, mod func(m *stack.Model)) *stack.Model {
	exe, err := os.Executable()
	if err != nil {
		h.t.Fatal(err)
	}
	m := &stack.Model{
		Identity: appID,
		Dir:      h.projDir,
		Services: []*stack.Service{
			{Name: "backend", Replicas: 1, HealthPath: "/healthz",
				Environment: map[string]string{"DATA_DIR": "/data", "VERSION": "b1"},
				Mounts:      []stack.Mount{{Type: stack.MountVolume, Source: "data", Target: "/data"}},
				Process:     &stack.Process{Command: []string{exe}, Env: map[string]string{appEnv: "backend"}}},
			{Name: "web", Replicas: 2, HealthPath: "/healthz",
				Environment: map[string]string{"VERSION": version, "BACKEND_URL": "http://backend:9000"},
				DependsOn:   []stack.Dependency{{Service: "backend", Condition: stack.ConditionHealthy}},
				Process:     &stack.Process{Command: []string{exe}, Env: map[string]string{appEnv: "web"}}},
		},
		Routes:  []stack.Route{{Host: appHost, Path: "/", Service: "web", Port: 8080, TLS: stack.TLSOff}},
		Volumes: []stack.Volume{{Name: "data"}},
	}
	if mod != nil {
		mod(m)
	}
	for _, s := range m.Services {
		s.Hash = serviceHash(s)
	}
	return m
}

func (h *harness) up(t *testing.T, version string, mod func(*stack.Model)) Release {
	t.Helper()
	var ev events
	rel, err := h.eng.Up(context.Background(), UpRequest{Model: h.appModel(version, mod)}, ev.emit)
	if err != nil {
		t.Fatalf("up %s: %v", version, err)
	}
	ev.checkTerminal(t, EventDone)
	return rel
}

// load sends requests through the proxy from a few workers until stopped,
// bounded in count, and counts failures.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	stop       chan struct{}
	wg         sync.WaitGroup
}

func (h *harness) startLoad(workers int, max int64) *load {
	l := &load{stop: make(chan struct{})}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for l.ok.Load()+l.failed.Load() < max {
				select {
				case <-l.stop:
					return
				default:
				}
				code, body, err := h.get("/")
				if err != nil || code != http.StatusOK || !strings.HasPrefix(body, "web ") {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.errs) < 10 {
						l.errs = append(l.errs, fmt.Sprintf("%d %q %v", code, body, err))
					}
					l.mu.Unlock()
				} else {
					l.ok.Add(1)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	return l
}

func (l *load) finish() { close(l.stop); l.wg.Wait() }

func handleNames(t *testing.T, s store.Store, instance string) []string {
	t.Helper()
	hs, err := s.Handles(context.Background(), instance)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range hs {
		names = append(names, h.Replica)
	}
	return names
}

// TestEngineLifecycle drives one instance through everything the engine
// does, on the real process runtime and the real proxy.
func TestEngineLifecycle(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	name := appID.Name()

	steps := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"install", func(t *testing.T) {
			p, err := h.eng.Plan(ctx, h.appModel("v1", nil), "")
			if err != nil {
				t.Fatal(err)
			}
			if p.Release != 1 || len(p.Services) != 2 || p.Services[0].Service != "backend" || p.Services[0].Action != ActionCreate {
				t.Fatalf("plan of a new instance:\n%s", p.Text)
			}
			// While the first release deploys, its host answers the
			// proxy's 503 page, not 404.
			during := 0
			var ev0 events
			rel, err := h.eng.Up(ctx, UpRequest{Model: h.appModel("v1", nil)}, func(e Event) {
				if e.Kind == EventStep && e.Step == "health" && e.Service == "web" && during == 0 {
					during, _, _ = h.get("/")
				}
				ev0.emit(e)
			})
			if err != nil {
				t.Fatal(err)
			}
			ev0.checkTerminal(t, EventDone)
			if during != http.StatusServiceUnavailable {
				t.Errorf("while the first release deployed the proxy answered %d, want 503", during)
			}
			if rel.Number != 1 || rel.Status != ReleaseActive {
				t.Fatalf("release = %d %s, want 1 active", rel.Number, rel.Status)
			}
			if got := h.mustGet(t, "/"); got != "web v1" {
				t.Fatalf("GET / = %q, want web v1", got)
			}
			// web found backend through the rewritten BACKEND_URL.
			if got := h.mustGet(t, "/backend"); got != "backend starts=1" {
				t.Fatalf("GET /backend = %q", got)
			}
			st, err := h.eng.Status(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if st.State != InstanceRunning || st.Release != 1 || len(st.Services) != 2 || st.Services[1].Ready != 2 {
				t.Fatalf("status = %+v", st)
			}
			if len(st.URLs) != 1 || st.URLs[0] != "http://"+appHost+"/" {
				t.Fatalf("urls = %v", st.URLs)
			}
			// The same model again changes nothing and makes no release.
			var ev events
			again, err := h.eng.Up(ctx, UpRequest{Model: h.appModel("v1", nil)}, ev.emit)
			if err != nil || again.Number != 1 {
				t.Fatalf("second up: release %d, %v", again.Number, err)
			}
			ev.checkTerminal(t, EventDone)
			if rels, _ := h.eng.Releases(ctx, name); len(rels) != 1 {
				t.Fatalf("an unchanged up recorded a release: %d releases", len(rels))
			}
		}},
		{"logs-and-exec", func(t *testing.T) {
			lines := logLines(t, h.eng, name, []string{"web"}, runtime.LogOptions{})
			for _, want := range []string{"web-r1-1 | web v1 listening on", "web-r1-2 | web v1 listening on"} {
				if !slices.ContainsFunc(lines, func(l wire.LogLine) bool { return strings.HasPrefix(l.Replica+" | "+l.Line, want) }) {
					t.Errorf("logs lack %q:\n%v", want, lines)
				}
			}
			// Following every service interleaves the replicas' lines as
			// they come and ends when closed.
			rc, err := h.eng.Logs(ctx, name, nil, runtime.LogOptions{Follow: true})
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			dec := json.NewDecoder(rc)
			for len(seen) < 3 {
				var l wire.LogLine
				if err := dec.Decode(&l); err != nil {
					break
				}
				seen[l.Replica] = true
			}
			if err := rc.Close(); err != nil {
				t.Fatal(err)
			}
			if !seen["backend-r1-1"] || !seen["web-r1-1"] || !seen["web-r1-2"] {
				t.Fatalf("following logs saw replicas %v", seen)
			}
			var out bytes.Buffer
			code, err := h.eng.Exec(ctx, name, "web", runtime.ExecOptions{Cmd: []string{"sh", "-c", "echo $QUAI_SERVICE $BACKEND_HOST"}, Stdout: &out})
			if err != nil || code != 0 || strings.TrimSpace(out.String()) != "web 127.0.0.1" {
				t.Fatalf("exec: code %d, out %q, err %v", code, out.String(), err)
			}
			var nf *NotFoundError
			if _, err := h.eng.Logs(ctx, name, []string{"wbe"}, runtime.LogOptions{}); !errors.As(err, &nf) || !slices.Contains(nf.Suggestions, "web") {
				t.Fatalf("logs of an unknown service: %v", err)
			}
		}},
		{"zero-downtime-updates", func(t *testing.T) {
			l := h.startLoad(4, 50000)
			for i := 2; i <= 11; i++ {
				rel := h.up(t, fmt.Sprintf("v%d", i), nil)
				if rel.Number != i {
					t.Fatalf("update %d made release %d", i, rel.Number)
				}
			}
			var ev events
			if err := h.eng.Restart(ctx, name, "web", ev.emit); err != nil {
				t.Fatalf("restart: %v", err)
			}
			ev.checkTerminal(t, EventDone)
			l.finish()
			t.Logf("load during 10 updates and a restart: %d requests answered, %d failed", l.ok.Load(), l.failed.Load())
			if l.failed.Load() != 0 {
				t.Fatalf("%d requests failed during the updates, e.g. %v", l.failed.Load(), l.errs)
			}
			if l.ok.Load() < 100 {
				t.Fatalf("only %d requests were sent; the load did not run", l.ok.Load())
			}
			if got := h.mustGet(t, "/"); got != "web v11" {
				t.Fatalf("after the updates GET / = %q, want web v11", got)
			}
			// backend never changed: its replica from release 1 still runs.
			names := handleNames(t, h.store, name)
			if !slices.Equal(names, []string{"backend-r1-1", "web-r11-1-2", "web-r11-2-2"}) {
				t.Fatalf("replicas = %v", names)
			}
			if listed, _ := h.rt.List(ctx, appID); len(listed) != 3 {
				t.Fatalf("the runtime still has %d replicas; old ones were not removed", len(listed))
			}
		}},
		{"rollback", func(t *testing.T) {
			var ev events
			rel, err := h.eng.Rollback(ctx, name, 0, ev.emit)
			if err != nil {
				t.Fatal(err)
			}
			ev.checkTerminal(t, EventDone)
			if rel.Number != 12 || rel.Cause != "rollback to 10" || rel.Model.Service("web").Environment["VERSION"] != "v10" {
				t.Fatalf("rollback made release %d (%s)", rel.Number, rel.Cause)
			}
			if got := h.mustGet(t, "/"); got != "web v10" {
				t.Fatalf("after rollback GET / = %q", got)
			}
			if rel, err = h.eng.Rollback(ctx, name, 1, nil); err != nil || rel.Number != 13 {
				t.Fatalf("rollback to 1: %d, %v", rel.Number, err)
			}
			if got := h.mustGet(t, "/"); got != "web v1" {
				t.Fatalf("after rollback to 1 GET / = %q", got)
			}
			if _, err := h.eng.Rollback(ctx, name, 99, nil); !errors.Is(err, ErrNoRelease) {
				t.Fatalf("rollback to a missing release: %v", err)
			}
		}},
		{"failed-health-keeps-old", func(t *testing.T) {
			h.eng.healthTimeout = 2 * time.Second
			defer func() { h.eng.healthTimeout = 30 * time.Second }()
			var ev events
			_, err := h.eng.Up(ctx, UpRequest{Model: h.appModel("bad", func(m *stack.Model) {
				m.Service("web").Environment["HEALTH_FAIL"] = "1"
			})}, ev.emit)
			if !errors.Is(err, ErrUnhealthy) {
				t.Fatalf("up with failing health: err = %v, want ErrUnhealthy", err)
			}
			ev.checkTerminal(t, EventFailed)
			for _, want := range []string{"web-r14-", "release 13 keeps serving", "503"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if got := h.mustGet(t, "/"); got != "web v1" {
				t.Fatalf("after the failed update GET / = %q, want the old web v1", got)
			}
			rels, _ := h.eng.Releases(ctx, name)
			if rels[0].Number != 14 || rels[0].Status != ReleaseFailed || !strings.Contains(rels[0].Error, "503") {
				t.Fatalf("release 14 = %d %s %q", rels[0].Number, rels[0].Status, rels[0].Error)
			}
			if rels[1].Number != 13 || rels[1].Status != ReleaseActive {
				t.Fatalf("release 13 = %s, want still active", rels[1].Status)
			}
			// The failed replicas stay, stopped, for their logs, until
			// the next successful release (concurrent-up, whose removal
			// down-and-up sees).
			kept, err := h.eng.store.KeptHandles(ctx, name)
			if err != nil || len(kept) != 2 {
				t.Fatalf("kept replicas of the failed release: %d, %v; want its 2", len(kept), err)
			}
			for _, k := range kept {
				if st, err := h.rt.Inspect(ctx, k); k.Release != 14 || err != nil || st.State == runtime.StateRunning {
					t.Errorf("kept replica %s (release %d): %+v, %v; want release 14, stopped", k.Replica, k.Release, st, err)
				}
			}
			if listed, _ := h.rt.List(ctx, appID); len(listed) != 5 {
				t.Fatalf("the runtime has %d replicas; want the 3 serving and the 2 kept", len(listed))
			}
			var failed *Event
			for _, e := range ev.list {
				if e.Kind == EventStepFailed {
					failed = &e
				}
			}
			if failed == nil || !strings.HasPrefix(failed.Replica, "web-r14-") || !strings.Contains(failed.Message, "503") {
				t.Errorf("step-failed event: %+v; want the failing replica and its health check's 503", failed)
			}
		}},
		{"concurrent-up", func(t *testing.T) {
			planned, proceed := make(chan struct{}), make(chan struct{})
			var once sync.Once
			first := func(e Event) {
				if e.Kind == EventPlan {
					once.Do(func() { close(planned); <-proceed })
				}
			}
			type result struct {
				rel Release
				err error
			}
			aDone := make(chan result, 1)
			go func() {
				rel, err := h.eng.Up(ctx, UpRequest{Model: h.appModel("a", nil)}, first)
				aDone <- result{rel, err}
			}()
			<-planned
			// A holds the instance: NoWait fails at once.
			var evB events
			if _, err := h.eng.Up(ctx, UpRequest{Model: h.appModel("b", nil), NoWait: true}, evB.emit); !errors.Is(err, ErrBusy) {
				t.Fatalf("concurrent up with NoWait: err = %v, want ErrBusy", err)
			}
			evB.checkTerminal(t, "")
			waiting := make(chan struct{})
			var onceW sync.Once
			cDone := make(chan result, 1)
			go func() {
				rel, err := h.eng.Up(ctx, UpRequest{Model: h.appModel("c", nil)}, func(e Event) {
					if e.Kind == EventWaiting {
						onceW.Do(func() { close(waiting) })
					}
				})
				cDone <- result{rel, err}
			}()
			<-waiting
			close(proceed)
			a := <-aDone
			c := <-cDone
			if a.err != nil || c.err != nil || a.rel.Number != 15 || c.rel.Number != 16 {
				t.Fatalf("a: %d %v; c: %d %v; want 15 then 16", a.rel.Number, a.err, c.rel.Number, c.err)
			}
			if got := h.mustGet(t, "/"); got != "web c" {
				t.Fatalf("GET / = %q, want web c", got)
			}
		}},
		{"down-and-up", func(t *testing.T) {
			var ev events
			if err := h.eng.Down(ctx, name, ev.emit); err != nil {
				t.Fatal(err)
			}
			ev.checkTerminal(t, EventDone)
			// The hosts stay routed, without targets: the proxy's 503
			// page, not 404.
			if code, _, _ := h.get("/"); code != http.StatusServiceUnavailable {
				t.Fatalf("after down the proxy answered %d, want 503 (routed, no healthy target)", code)
			}
			if listed, _ := h.rt.List(ctx, appID); len(listed) != 0 {
				t.Fatalf("after down %d replicas remain", len(listed))
			}
			if st, _ := h.eng.Status(ctx, name); st.State != InstanceStopped {
				t.Fatalf("state after down = %s", st.State)
			}
			// Unchanged, the downed instance starts its release again.
			rel := h.up(t, "c", nil)
			if rel.Number != 16 {
				t.Fatalf("up after down made release %d, want 16 again", rel.Number)
			}
			if got := h.mustGet(t, "/"); got != "web c" {
				t.Fatalf("GET / = %q", got)
			}
		}},
		{"scale", func(t *testing.T) {
			three := func(m *stack.Model) { m.Service("web").Replicas = 3 }
			p, err := h.eng.Plan(ctx, h.appModel("c", three), "")
			if err != nil {
				t.Fatal(err)
			}
			if p.Services[1].Action != ActionScale || p.Services[0].Action != ActionKeep {
				t.Fatalf("plan:\n%s", p.Text)
			}
			if rel := h.up(t, "c", three); rel.Number != 17 {
				t.Fatalf("scale up made release %d", rel.Number)
			}
			if got := handleNames(t, h.store, name); !slices.Equal(got, []string{"backend-r16-1", "web-r16-1", "web-r16-2", "web-r17-3"}) {
				t.Fatalf("replicas after scaling up = %v", got)
			}
			pids := map[string]bool{}
			for range 30 {
				pids[h.mustGet(t, "/pid")] = true
			}
			if len(pids) != 3 {
				t.Fatalf("%d replicas answered, want 3", len(pids))
			}
			h.up(t, "c", nil)
			if got := handleNames(t, h.store, name); !slices.Equal(got, []string{"backend-r16-1", "web-r16-1", "web-r16-2"}) {
				t.Fatalf("replicas after scaling down = %v", got)
			}
		}},
		{"update-dependency", func(t *testing.T) {
			before := atoi(strings.TrimPrefix(h.mustGet(t, "/backend"), "backend starts="))
			b2 := func(m *stack.Model) { m.Service("backend").Environment["VERSION"] = "b2" }
			p, err := h.eng.Plan(ctx, h.appModel("c", b2), "")
			if err != nil {
				t.Fatal(err)
			}
			// backend gets a new address, so web, which uses it, follows.
			if p.Services[0].Action != ActionReplace || p.Services[1].Action != ActionReplace || p.Services[1].FromHash != p.Services[1].ToHash {
				t.Fatalf("plan:\n%s", p.Text)
			}
			if rel := h.up(t, "c", b2); rel.Number != 19 {
				t.Fatalf("release %d, want 19", rel.Number)
			}
			if got, want := h.mustGet(t, "/backend"), fmt.Sprintf("backend starts=%d", before+1); got != want {
				t.Fatalf("GET /backend = %q, want %q", got, want)
			}
		}},
		{"failed-dependency-update-restores-old", func(t *testing.T) {
			h.eng.healthTimeout = 2 * time.Second
			defer func() { h.eng.healthTimeout = 30 * time.Second }()
			before := atoi(strings.TrimPrefix(h.mustGet(t, "/backend"), "backend starts="))
			_, err := h.eng.Up(ctx, UpRequest{Model: h.appModel("c", func(m *stack.Model) {
				m.Service("backend").Environment["VERSION"] = "b2"
				m.Service("backend").Environment["HEALTH_FAIL"] = "1"
			})}, nil)
			if !errors.Is(err, ErrUnhealthy) || !strings.Contains(err.Error(), "backend-r20-1") {
				t.Fatalf("err = %v, want ErrUnhealthy naming backend-r20-1", err)
			}
			// The old backend (stopped first: it owns the volume) runs again
			// at its old address, so the web replicas still reach it.
			if got, want := h.mustGet(t, "/backend"), fmt.Sprintf("backend starts=%d", before+2); got != want {
				t.Fatalf("GET /backend = %q, want %q", got, want)
			}
			if got := h.mustGet(t, "/"); got != "web c" {
				t.Fatalf("GET / = %q", got)
			}
			if got := handleNames(t, h.store, name); !slices.Equal(got, []string{"backend-r19-1", "web-r19-1", "web-r19-2"}) {
				t.Fatalf("replicas = %v", got)
			}
			st, err := h.eng.Status(ctx, name)
			if err != nil || st.State != InstanceRunning || st.Release != 19 {
				t.Fatalf("status = %s at %d, %v", st.State, st.Release, err)
			}
		}},
		{"recover-after-crash", func(t *testing.T) {
			pids := map[string]bool{}
			for range 20 {
				pids[h.mustGet(t, "/pid")] = true
			}
			before := handleNames(t, h.store, name)
			active, err := h.store.ActiveRelease(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			// What a daemon that died mid-deploy leaves: a running operation
			// record, a pending release and a replica no store remembers.
			op, err := h.store.BeginOperation(ctx, store.Operation{Instance: name, Kind: "up", Owner: "engine-crashed"})
			if err != nil {
				t.Fatal(err)
			}
			pending, err := h.store.CreateRelease(ctx, store.Release{Instance: name, Runtime: "process", Model: []byte(`{}`), Cause: "up"})
			if err != nil {
				t.Fatal(err)
			}
			if err := h.store.SetOperationRelease(ctx, op.ID, pending.Number); err != nil {
				t.Fatal(err)
			}
			m := h.appModel("orphan", nil)
			if _, err := h.rt.Start(ctx, runtime.ReplicaSpec{Instance: appID, Service: m.Service("web"), Release: pending.Number,
				Index: 1, Replica: "web-r99-1", ProjectDir: h.projDir}); err != nil {
				t.Fatal(err)
			}
			h.crash()
			if _, _, err := h.get("/"); err == nil {
				t.Fatal("the crashed proxy still answers")
			}

			h.start()
			if err := h.eng.Recover(ctx); err != nil {
				t.Fatal(err)
			}
			if err := h.eng.WaitRecovered(ctx); err != nil {
				t.Fatal(err)
			}
			after := map[string]bool{}
			for range 20 {
				after[h.mustGet(t, "/pid")] = true
			}
			if len(after) != 2 || !mapsEqual(pids, after) {
				t.Fatalf("pids answering before the crash %v, after recovery %v; replicas must be re-attached, not restarted", pids, after)
			}
			if got := handleNames(t, h.store, name); !slices.Equal(got, before) {
				t.Fatalf("handles after recovery = %v, want %v", got, before)
			}
			if ops, _ := h.store.RunningOperations(ctx); len(ops) != 0 {
				t.Fatalf("stale operations left: %+v", ops)
			}
			if r, _ := h.store.Release(ctx, name, pending.Number); r.Status != store.StatusFailed || !strings.Contains(r.Error, "interrupted") {
				t.Fatalf("the interrupted release is %s %q, want failed", r.Status, r.Error)
			}
			listed, _ := h.rt.List(ctx, appID)
			for _, l := range listed {
				if l.Replica == "web-r99-1" {
					t.Fatal("the orphan replica was not removed")
				}
			}
			// The replica the failed dependency update left is kept for
			// its logs, not taken for an orphan.
			kept, err := h.store.KeptHandles(ctx, name)
			if err != nil || len(kept) != 1 || !slices.ContainsFunc(listed, func(l runtime.Handle) bool { return l.Replica == kept[0].Replica }) {
				t.Fatalf("kept replicas after recovery: %+v, %v; want the failed release's one, still there", kept, err)
			}
			if len(listed) != 4 {
				t.Fatalf("the runtime has %d replicas after recovery, want 3 and the kept one", len(listed))
			}
			// No stale lock: an operation that must not wait goes through.
			rel, err := h.eng.Up(ctx, UpRequest{Model: h.appModel("c", func(m *stack.Model) {
				m.Service("backend").Environment["VERSION"] = "b2"
			}), NoWait: true}, nil)
			if err != nil || rel.Number != active.Number {
				t.Fatalf("up after recovery: release %d, %v; want %d unchanged", rel.Number, err, active.Number)
			}
		}},
		{"recover-starts-gone-replicas-again", func(t *testing.T) {
			// A host reboot: the daemon and every replica are gone.
			hs, err := h.store.Handles(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			h.crash()
			rt, err := process.New(process.Options{DataDir: h.dataDir, ShimPath: "/bin/false", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			for _, hd := range hs {
				if err := rt.Stop(ctx, hd, time.Second); err != nil {
					t.Fatal(err)
				}
				if err := rt.Remove(ctx, hd); err != nil {
					t.Fatal(err)
				}
			}
			_ = rt.Close()

			h.start()
			if err := h.eng.Recover(ctx); err != nil {
				t.Fatal(err)
			}
			// Recover returns at once and restarts in the background; poll,
			// bounded by the engine's own health timeout.
			deadline := time.Now().Add(time.Minute)
			for {
				if code, body, err := h.get("/"); err == nil && code == http.StatusOK && body == "web c" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the instance does not answer again after its replicas were gone")
				}
				time.Sleep(100 * time.Millisecond)
			}
			after := handleNames(t, h.store, name)
			if len(after) != len(hs) {
				t.Fatalf("replicas after recovery = %v, want %d", after, len(hs))
			}
			for _, hd := range hs {
				if slices.Contains(after, hd.Replica) {
					t.Fatalf("replica %s is recorded again although it was gone: %v", hd.Replica, after)
				}
			}
		}},
		{"remove-keeps-volumes-unless-purge", func(t *testing.T) {
			startsBefore := strings.TrimPrefix(h.mustGet(t, "/backend"), "backend starts=")
			var ev events
			if err := h.eng.Remove(ctx, name, false, ev.emit); err != nil {
				t.Fatal(err)
			}
			ev.checkTerminal(t, EventDone)
			if listed, _ := h.rt.List(ctx, appID); len(listed) != 0 {
				t.Fatalf("after remove %d replicas remain", len(listed))
			}
			var nf *NotFoundError
			if _, err := h.eng.Status(ctx, name); !errors.As(err, &nf) {
				t.Fatalf("status after remove: %v, want *NotFoundError", err)
			}
			if vols, _ := h.rt.Volumes(ctx, appID); !slices.Equal(vols, []string{"data"}) {
				t.Fatalf("volumes after remove = %v, want [data] kept", vols)
			}
			rel := h.up(t, "again", nil)
			if rel.Number != 1 {
				t.Fatalf("reinstall made release %d, want 1", rel.Number)
			}
			want := fmt.Sprintf("backend starts=%d", atoi(startsBefore)+1)
			if got := h.mustGet(t, "/backend"); got != want {
				t.Fatalf("GET /backend = %q, want %q: the volume's data must survive remove", got, want)
			}
			if _, err := h.eng.Status(ctx, "app-tset"); !errors.As(err, &nf) || !slices.Contains(nf.Suggestions, name) {
				t.Fatalf("status of a misspelt instance: %v", err)
			}
			if err := h.eng.Remove(ctx, name, true, nil); err != nil {
				t.Fatal(err)
			}
			if vols, _ := h.rt.Volumes(ctx, appID); len(vols) != 0 {
				t.Fatalf("volumes after purge = %v", vols)
			}
			if list, _ := h.eng.List(ctx); len(list) != 0 {
				t.Fatalf("instances after remove: %+v", list)
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.fn) {
			return
		}
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
