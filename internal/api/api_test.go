package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/api"
	"github.com/quai-dev/quai/internal/api/apitest"
	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/secrets"
	"github.com/quai-dev/quai/internal/secrets/sops"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

func newServer(t *testing.T, e *apitest.Engine) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(api.New(api.Options{Engine: e}))
	t.Cleanup(srv.Close)
	return srv
}

// decodeErr reads the one error shape and fails on any other body.
func decodeErr(t *testing.T, resp *http.Response) wire.ErrorDetail {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error content type = %q, want application/json", ct)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var shape map[string]map[string]string
	if err := json.Unmarshal(raw, &shape); err != nil {
		t.Fatalf("error body %s is not {\"error\":{...}}: %v", raw, err)
	}
	if len(shape) != 1 || shape["error"] == nil {
		t.Fatalf("error body %s: want exactly one key \"error\"", raw)
	}
	for k := range shape["error"] {
		if k != "code" && k != "message" && k != "hint" {
			t.Fatalf("error body %s: unexpected key %q", raw, k)
		}
	}
	e := shape["error"]
	return wire.ErrorDetail{Code: e["code"], Message: e["message"], Hint: e["hint"]}
}

func TestErrorStatuses(t *testing.T) {
	loadErr := &stack.LoadError{Dir: "/p", Diagnostics: []stack.Diagnostic{{Pos: stack.Position{File: "compose.yaml", Line: 3, Column: 5}, Message: "unknown key"}}}
	tests := []struct {
		name       string
		err        error
		status     int
		code       string
		hintHas    string
		messageHas string
	}{
		{"unknown instance with suggestions", fmt.Errorf("status: %w", &engine.NotFoundError{Name: "shop-dve", Suggestions: []string{"shop-dev", "shop-prod"}}),
			404, wire.CodeNotFound, "shop-dev, shop-prod", "shop-dve"},
		{"not found sentinel", fmt.Errorf("release 9 of shop-dev: %w", engine.ErrNotFound), 404, wire.CodeNotFound, "quai ls", "release 9"},
		{"busy", fmt.Errorf("shop-dev: %w", engine.ErrBusy), 409, wire.CodeBusy, "wait", "shop-dev"},
		{"promotion refused", fmt.Errorf("promoting shop-staging release 3 to shop-prod is refused:\n  - min_healthy 10m0s (envs/prod.yaml:4:5): ...: %w", engine.ErrRefused),
			412, wire.CodeRefused, "x-quai.promotion", "envs/prod.yaml:4:5"},
		{"invalid stack", fmt.Errorf("plan: %w", loadErr), 400, wire.CodeInvalid, "quai lint", "compose.yaml:3:5"},
		{"secret without a value", fmt.Errorf("shop-prod: secret db_password has no value: %w", engine.ErrSecret), 400, wire.CodeInvalid, "nothing was changed", "db_password"},
		{"unsupported", fmt.Errorf("exec: %w", runtime.ErrUnsupported), 501, wire.CodeUnsupported, "--runtime", "exec"},
		{"missing dependency", fmt.Errorf("postgres: %w", runtime.ErrMissingDependency), 424, wire.CodeMissingDependency, "install", "postgres"},
		{"unavailable", fmt.Errorf("docker: %w", runtime.ErrUnavailable), 503, wire.CodeUnavailable, "running", "docker"},
		{"key in use", fmt.Errorf("retire: %w: default/prod#1 is still a recipient of secrets/prod.yaml", secrets.ErrKeyInUse), 409, wire.CodeKeyInUse, "", "secrets/prod.yaml"},
		{"wrong passphrase", fmt.Errorf("%w: the key bundle does not open", secrets.ErrPassphrase), 400, wire.CodeWrongPassphrase, "passphrase", "bundle"},
		{"no key", fmt.Errorf("%w opens secrets/prod.yaml", secrets.ErrNoKey), 404, wire.CodeNotFound, "", "secrets/prod.yaml"},
		{"MAC mismatch", fmt.Errorf("secrets/prod.yaml: %w", sops.ErrMAC), 400, wire.CodeInvalid, "version control", "secrets/prod.yaml"},
		{"anything else", errors.New("disk full"), 500, wire.CodeInternal, "daemon.log", "disk full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, &apitest.Engine{StatusFunc: func(context.Context, string) (engine.InstanceStatus, error) {
				return engine.InstanceStatus{}, tt.err
			}})
			resp, err := http.Get(srv.URL + "/api/v1/instances/shop-dve")
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			e := decodeErr(t, resp)
			if e.Code != tt.code {
				t.Errorf("code = %q, want %q", e.Code, tt.code)
			}
			if !strings.Contains(e.Hint, tt.hintHas) {
				t.Errorf("hint = %q, want it to contain %q", e.Hint, tt.hintHas)
			}
			if !strings.Contains(e.Message, tt.messageHas) {
				t.Errorf("message = %q, want it to contain %q", e.Message, tt.messageHas)
			}
		})
	}
}

func TestSecretsWithoutKeyringAnswer501(t *testing.T) {
	srv := newServer(t, &apitest.Engine{})
	resp, err := http.Get(srv.URL + "/api/v1/secrets/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if e := decodeErr(t, resp); resp.StatusCode != http.StatusNotImplemented || e.Code != wire.CodeUnsupported {
		t.Errorf("GET /secrets/keys without a keyring: %d %+v; want 501 unsupported", resp.StatusCode, e)
	}
}

func TestRefusesBrowserOrigin(t *testing.T) {
	called := false
	srv := newServer(t, &apitest.Engine{ListFunc: func(context.Context) ([]engine.Instance, error) {
		called = true
		return nil, nil
	}})
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/instances", nil)
	req.Header.Set("Origin", "https://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status = %d, want 403", resp.StatusCode)
	}
	if e := decodeErr(t, resp); e.Code != wire.CodeForbidden {
		t.Errorf("code = %q, want %q", e.Code, wire.CodeForbidden)
	}
	if called {
		t.Error("the engine was called for a browser request")
	}

	// The same request without Origin goes through.
	resp2, err := http.Get(srv.URL + "/api/v1/instances")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp2.Body.Close() }()
	var list []engine.Instance
	if resp2.StatusCode != 200 || json.NewDecoder(resp2.Body).Decode(&list) != nil || list == nil {
		t.Fatalf("without Origin: status %d, list %v; want 200 and an empty JSON list", resp2.StatusCode, list)
	}
}

func TestUnknownEndpointAndBadBody(t *testing.T) {
	srv := newServer(t, &apitest.Engine{})
	for _, tt := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"GET", "/api/v1/nope", "", 404, wire.CodeNotFound},
		{"GET", "/elsewhere", "", 404, wire.CodeNotFound},
		{"POST", "/api/v1/up", "{not json", 400, wire.CodeInvalid},
		{"POST", "/api/v1/up", `{"model": null}`, 400, wire.CodeInvalid},
		{"POST", "/api/v1/plan", `{"unknown_field": 1}`, 400, wire.CodeInvalid},
		{"DELETE", "/api/v1/instances/x?purge=maybe", "", 400, wire.CodeInvalid},
		{"GET", "/api/v1/instances/x/logs?tail=-3", "", 400, wire.CodeInvalid},
		{"GET", "/api/v1/instances/x/logs?since=yesterday", "", 400, wire.CodeInvalid},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if e := decodeErr(t, resp); e.Code != tt.code || e.Message == "" {
				t.Errorf("error = %+v, want code %q and a message", e, tt.code)
			}
		})
	}
}

func model() *stack.Model {
	return &stack.Model{
		Identity: stack.Identity{Org: "acme", Project: "shop", Env: "dev"},
		Dir:      "/srv/shop",
		Services: []*stack.Service{{Name: "web", Replicas: 2, Hash: "abc"}},
		Resolved: []byte("services:\n  web: {}\n"),
	}
}

// TestEventStreamFlushesAsItHappens reads the first event while the
// operation is still blocked: the stream is flushed per event, not at the end.
func TestEventStreamFlushesAsItHappens(t *testing.T) {
	proceed := make(chan struct{})
	var got engine.UpRequest
	srv := newServer(t, &apitest.Engine{UpFunc: func(ctx context.Context, req engine.UpRequest, emit engine.Emitter) (engine.Release, error) {
		got = req
		emit(engine.Event{Kind: engine.EventPlan, Text: "plan text"})
		select {
		case <-proceed:
		case <-ctx.Done():
			return engine.Release{}, ctx.Err()
		}
		emit(engine.Event{Kind: engine.EventStep, Service: "web", Step: "start"})
		emit(engine.Event{Kind: engine.EventDone, Release: 4})
		emit(engine.Event{Kind: engine.EventStep, Message: "after the end: dropped"})
		return engine.Release{Number: 4}, nil
	}})
	m := model()
	payload, err := wire.NewModelPayload(m, m.Resolved)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(wire.UpRequest{ModelPayload: payload, Runtime: "process"})
	resp, err := http.Post(srv.URL+"/api/v1/up", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != wire.ContentTypeNDJSON {
		t.Fatalf("status %d, content type %q; want 200 %s", resp.StatusCode, resp.Header.Get("Content-Type"), wire.ContentTypeNDJSON)
	}
	br := bufio.NewReader(resp.Body)
	first := readEvent(t, br)
	if first.Kind != engine.EventPlan || first.Text != "plan text" || first.Instance != "acme/shop-dev" || first.Time.IsZero() {
		t.Fatalf("first event = %+v; want the plan, stamped with instance and time", first)
	}
	close(proceed)
	var kinds []engine.EventKind
	for {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var ev engine.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		kinds = append(kinds, ev.Kind)
	}
	if fmt.Sprint(kinds) != "[step done]" {
		t.Errorf("events after the plan = %v, want [step done]", kinds)
	}
	if got.Model == nil || string(got.Model.Resolved) != "services:\n  web: {}\n" || got.Model.Services[0].Hash != "abc" || got.Cause != "up" || got.Runtime != "process" {
		t.Errorf("engine got %+v (model %+v); want the model with its resolved document, cause up, runtime process", got, got.Model)
	}
}

func readEvent(t *testing.T, br *bufio.Reader) engine.Event {
	t.Helper()
	line, err := br.ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	var ev engine.Event
	if err := json.Unmarshal(line, &ev); err != nil {
		t.Fatalf("line %q: %v", line, err)
	}
	return ev
}

// TestStreamKeepsTheEnginesEnd: the engine owns an operation's terminal
// event; the stream neither adds nor doubles one, and an operation refused
// before its first event is answered in the JSON error shape.
func TestStreamKeepsTheEnginesEnd(t *testing.T) {
	tests := []struct {
		name   string
		run    func(emit engine.Emitter) error
		status int
		last   engine.EventKind
		count  int
	}{
		{"done event ends the stream", func(emit engine.Emitter) error {
			emit(engine.Event{Kind: engine.EventStep, Step: "stop"})
			emit(engine.Event{Kind: engine.EventDone})
			emit(engine.Event{Kind: engine.EventStep, Message: "after the end: dropped"})
			return nil
		}, 200, engine.EventDone, 2},
		{"engine failed event is not doubled", func(emit engine.Emitter) error {
			emit(engine.Event{Kind: engine.EventFailed, Error: "boom"})
			return errors.New("boom")
		}, 200, engine.EventFailed, 1},
		{"refused before any event keeps its status", func(engine.Emitter) error {
			return fmt.Errorf("down: %w", engine.ErrBusy)
		}, 409, "", 0},
		{"no such release before any event is a JSON error", func(engine.Emitter) error {
			return fmt.Errorf("shop-dev has no release 99: %w", engine.ErrNoRelease)
		}, 409, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, &apitest.Engine{DownFunc: func(_ context.Context, instance string, emit engine.Emitter) error {
				if instance != "acme/shop-dev" {
					return fmt.Errorf("instance %q: %w", instance, engine.ErrNotFound)
				}
				return tt.run(emit)
			}})
			resp, err := http.Post(srv.URL+"/api/v1/instances/acme%2Fshop-dev/down", "application/json", strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status != 200 {
				decodeErr(t, resp)
				return
			}
			var evs []engine.Event
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				var ev engine.Event
				if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
					t.Fatal(err)
				}
				evs = append(evs, ev)
			}
			if len(evs) != tt.count || evs[len(evs)-1].Kind != tt.last {
				t.Fatalf("events = %+v; want %d ending with %s", evs, tt.count, tt.last)
			}
			if tt.last == engine.EventFailed && evs[len(evs)-1].Error == "" {
				t.Error("failed event carries no error")
			}
		})
	}
}

func TestLogsStreamAndOptions(t *testing.T) {
	pr, pw := io.Pipe()
	var gotOpts runtime.LogOptions
	var gotServices []string
	srv := newServer(t, &apitest.Engine{LogsFunc: func(_ context.Context, _ string, services []string, opts runtime.LogOptions) (io.ReadCloser, error) {
		gotOpts, gotServices = opts, services
		return pr, nil
	}})
	resp, err := http.Get(srv.URL + "/api/v1/instances/shop-dev/logs?service=web&service=db&follow=true&tail=5&since=2025-01-02T03:04:05Z" +
		"&until=2025-01-02T04:00:00Z&grep=err&timestamps=true")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, err := pw.Write([]byte(`{"time":"2025-01-02T03:30:00.5Z","service":"web","replica":"web-r1-1","line":"hello err"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	// Read the line while the log stays open: it was flushed.
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "web-r1-1 | 2025-01-02T03:30:00.500000000Z hello err\n" {
		t.Fatalf("line = %q, %v", line, err)
	}
	_ = pw.Close()
	if !slices.Equal(gotServices, []string{"web", "db"}) || !gotOpts.Follow || gotOpts.Tail != 5 || !gotOpts.Timestamps || gotOpts.Grep != "err" ||
		gotOpts.Since.Format(time.RFC3339) != "2025-01-02T03:04:05Z" || gotOpts.Until.Format(time.RFC3339) != "2025-01-02T04:00:00Z" {
		t.Errorf("engine got services %q opts %+v", gotServices, gotOpts)
	}

	// format=json passes the engine's lines on as they are.
	want := `{"time":"2025-01-02T03:30:00.5Z","service":"web","replica":"web-r1-1","line":"x"}` + "\n"
	srv = newServer(t, &apitest.Engine{LogsFunc: func(context.Context, string, []string, runtime.LogOptions) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(want)), nil
	}})
	resp, err = http.Get(srv.URL + "/api/v1/instances/shop-dev/logs?format=json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(b) != want || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Errorf("format=json: %q (%s)", b, resp.Header.Get("Content-Type"))
	}
	for _, bad := range []string{"format=yaml", "until=yesterday", "timestamps=maybe"} {
		resp, err = http.Get(srv.URL + "/api/v1/instances/shop-dev/logs?" + bad)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", bad, resp.StatusCode)
		}
	}
}
