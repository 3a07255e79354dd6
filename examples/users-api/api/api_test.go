package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// newTestAPI starts a real PostgreSQL, migrates it and serves the API on an
// httptest server.
func newTestAPI(t *testing.T, version string) (*pgCluster, *pgxpool.Pool, *httptest.Server) {
	t.Helper()
	pg := startPostgres(t)
	ctx := testContext(t)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	pool, err := connect(ctx, log, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newServer(pool, version, log).routes())
	t.Cleanup(srv.Close)
	return pg, pool, srv
}

// reply is what tests look at in a response (its body is already consumed).
type reply struct {
	StatusCode int
	Header     http.Header
}

// call sends a request and decodes a JSON answer into out (when non-nil).
func call(t *testing.T, method, url, body string, out any) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: status %d, body %q is not the expected JSON: %v", method, url, resp.StatusCode, raw, err)
		}
	}
	return reply{StatusCode: resp.StatusCode, Header: resp.Header}
}

func TestUsersAPI(t *testing.T) {
	_, _, srv := newTestAPI(t, "7")
	base := srv.URL

	var empty []User
	if resp := call(t, "GET", base+"/api/users", "", &empty); resp.StatusCode != 200 || empty == nil || len(empty) != 0 {
		t.Fatalf("empty list: status %d, %v; want 200 and []", resp.StatusCode, empty)
	}

	var ada User
	resp := call(t, "POST", base+"/api/users", `{"name":"  Ada Lovelace ","email":"Ada@Example.COM"}`, &ada)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: status %d, want 201", resp.StatusCode)
	}
	if ada.ID < 1 || ada.Name != "Ada Lovelace" || ada.Email != "ada@example.com" || ada.CreatedAt.IsZero() {
		t.Fatalf("create returned %+v; want trimmed name, lower-cased email, id and created_at", ada)
	}
	if loc := resp.Header.Get("Location"); loc != "/api/users/"+strconv.FormatInt(ada.ID, 10) {
		t.Errorf("Location = %q", loc)
	}

	var grace User
	if resp := call(t, "POST", base+"/api/users", `{"name":"Grace Hopper","email":"grace@example.org"}`, &grace); resp.StatusCode != 201 {
		t.Fatalf("second create: status %d", resp.StatusCode)
	}

	t.Run("duplicate email conflicts regardless of case", func(t *testing.T) {
		var e map[string]string
		resp := call(t, "POST", base+"/api/users", `{"name":"Other Ada","email":"ADA@example.com"}`, &e)
		if resp.StatusCode != http.StatusConflict || !strings.Contains(e["error"], "already exists") {
			t.Fatalf("status %d, %v; want 409 with an error message", resp.StatusCode, e)
		}
	})

	t.Run("invalid bodies are rejected", func(t *testing.T) {
		cases := []struct {
			name, body string
			status     int
			msg        string
		}{
			{"missing name", `{"email":"x@example.com"}`, 422, "name is required"},
			{"blank name", `{"name":"   ","email":"x@example.com"}`, 422, "name is required"},
			{"long name", `{"name":"` + strings.Repeat("é", 101) + `","email":"x@example.com"}`, 422, "longer than 100"},
			{"missing email", `{"name":"X"}`, 422, "email is required"},
			{"not an address", `{"name":"X","email":"not-an-email"}`, 422, "not a valid address"},
			{"display name form", `{"name":"X","email":"X <x@example.com>"}`, 422, "not a valid address"},
			{"no domain dot", `{"name":"X","email":"x@localhost"}`, 422, "not a valid address"},
			{"unknown field", `{"name":"X","email":"x@example.com","admin":true}`, 400, "unknown field"},
			{"trailing data", `{"name":"X","email":"x@example.com"} {}`, 400, "single object"},
			{"not JSON", `name=X`, 400, "invalid JSON"},
			{"too large", `{"name":"` + strings.Repeat("a", maxBodyBytes) + `","email":"x@example.com"}`, 400, "invalid JSON"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var e map[string]string
				resp := call(t, "POST", base+"/api/users", tc.body, &e)
				if resp.StatusCode != tc.status || !strings.Contains(e["error"], tc.msg) {
					t.Fatalf("status %d, error %q; want %d containing %q", resp.StatusCode, e["error"], tc.status, tc.msg)
				}
			})
		}
	})

	t.Run("list returns users in creation order", func(t *testing.T) {
		var users []User
		call(t, "GET", base+"/api/users", "", &users)
		if len(users) != 2 || users[0].ID != ada.ID || users[1].ID != grace.ID {
			t.Fatalf("list = %+v; want Ada then Grace (the rejected bodies must not have been stored)", users)
		}
	})

	t.Run("get", func(t *testing.T) {
		var got User
		if resp := call(t, "GET", fmt.Sprintf("%s/api/users/%d", base, grace.ID), "", &got); resp.StatusCode != 200 || got.Email != "grace@example.org" {
			t.Fatalf("status %d, %+v", resp.StatusCode, got)
		}
		var e map[string]string
		if resp := call(t, "GET", base+"/api/users/999999", "", &e); resp.StatusCode != 404 || e["error"] == "" {
			t.Fatalf("unknown id: status %d, %v; want 404", resp.StatusCode, e)
		}
		for _, bad := range []string{"abc", "0", "-1", "99999999999999999999"} {
			if resp := call(t, "GET", base+"/api/users/"+bad, "", &e); resp.StatusCode != 400 {
				t.Errorf("id %q: status %d, want 400", bad, resp.StatusCode)
			}
		}
	})

	t.Run("delete", func(t *testing.T) {
		url := fmt.Sprintf("%s/api/users/%d", base, ada.ID)
		if resp := call(t, "DELETE", url, "", nil); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("delete: status %d, want 204", resp.StatusCode)
		}
		if resp := call(t, "GET", url, "", nil); resp.StatusCode != 404 {
			t.Fatalf("get after delete: status %d, want 404", resp.StatusCode)
		}
		if resp := call(t, "DELETE", url, "", nil); resp.StatusCode != 404 {
			t.Fatalf("second delete: status %d, want 404", resp.StatusCode)
		}
		// The email is free again once its user is gone.
		if resp := call(t, "POST", base+"/api/users", `{"name":"Ada","email":"ada@example.com"}`, nil); resp.StatusCode != 201 {
			t.Fatalf("re-create after delete: status %d, want 201", resp.StatusCode)
		}
	})

	t.Run("version", func(t *testing.T) {
		var v map[string]string
		if resp := call(t, "GET", base+"/api/version", "", &v); resp.StatusCode != 200 || v["version"] != "7" {
			t.Fatalf("status %d, %v; want version 7", resp.StatusCode, v)
		}
	})

	t.Run("unknown endpoints and methods", func(t *testing.T) {
		if resp := call(t, "GET", base+"/api/nope", "", nil); resp.StatusCode != 404 {
			t.Errorf("unknown path: status %d, want 404", resp.StatusCode)
		}
		if resp := call(t, "PUT", base+"/api/users", "{}", nil); resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("PUT /api/users: status %d, want 405", resp.StatusCode)
		}
	})
}

func TestHealthzFollowsTheDatabase(t *testing.T) {
	pg, _, srv := newTestAPI(t, "dev")
	var h map[string]string
	if resp := call(t, "GET", srv.URL+"/healthz", "", &h); resp.StatusCode != 200 || h["status"] != "ok" {
		t.Fatalf("healthy database: status %d, %v", resp.StatusCode, h)
	}
	pg.stop("immediate")
	if resp := call(t, "GET", srv.URL+"/healthz", "", &h); resp.StatusCode != http.StatusServiceUnavailable || h["status"] != "unavailable" {
		t.Fatalf("database down: status %d, %v; want 503", resp.StatusCode, h)
	}
	pg.start()
	// The pool reconnects on its own; the first ping after a restart may
	// still see a dead pooled connection, so allow a few probes.
	var last int
	for range 20 {
		if last = call(t, "GET", srv.URL+"/healthz", "", nil).StatusCode; last == 200 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("database back: status %d, want 200", last)
}

func TestMigrateIsIdempotentAndSafeWhenConcurrent(t *testing.T) {
	_, pool, srv := newTestAPI(t, "dev")
	if resp := call(t, "POST", srv.URL+"/api/users", `{"name":"Kept","email":"kept@example.com"}`, nil); resp.StatusCode != 201 {
		t.Fatalf("create: status %d", resp.StatusCode)
	}
	ctx := testContext(t)
	// Replicas of a new release migrate at the same time.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() { errs <- migrate(ctx, pool) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
	var users []User
	call(t, "GET", srv.URL+"/api/users", "", &users)
	if len(users) != 1 || users[0].Email != "kept@example.com" {
		t.Fatalf("after re-migration users = %+v; want the existing row kept", users)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	if _, err := configFromEnv(env(nil)); err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("missing DATABASE_URL: err = %v", err)
	}
	c, err := configFromEnv(env(map[string]string{"DATABASE_URL": "postgres://x@h/db"}))
	if err != nil || c.Port != "8080" || c.Version != "dev" {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	c, err = configFromEnv(env(map[string]string{"DATABASE_URL": "postgres://x@h/db", "PORT": "9000", "APP_VERSION": "3"}))
	if err != nil || c.Port != "9000" || c.Version != "3" {
		t.Fatalf("explicit: %+v, %v", c, err)
	}
}

// TestShutdownFinishesInFlightRequests runs the whole program: it starts,
// migrates, serves, and on cancellation (SIGTERM in main) completes a request
// that had already begun before returning.
func TestShutdownFinishesInFlightRequests(t *testing.T) {
	pg := startPostgres(t)
	port := freePort(t)
	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewJSONHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))
	env := map[string]string{"DATABASE_URL": pg.URL(), "HOST": "127.0.0.1", "PORT": strconv.Itoa(port), "APP_VERSION": "9"}

	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, log, func(k string) string { return env[k] }) }()

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	waitHealthy(t, "http://"+addr+"/healthz", done)

	// Begin a request: headers and half of the body.
	body := `{"name":"In Flight","email":"inflight@example.com"}`
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_, _ = fmt.Fprintf(conn, "POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:10])
	// The server accepts connections in order: once a request on a later
	// connection is answered, the first connection is in the server's hands,
	// and shutdown must wait for it. The later connection must be new: the
	// client would otherwise reuse waitHealthy's, accepted before the first,
	// and under load the first could still be unaccepted at shutdown.
	http.DefaultClient.CloseIdleConnections()
	var v map[string]string
	if r := call(t, "GET", "http://"+addr+"/api/version", "", &v); r.StatusCode != 200 || v["version"] != "9" {
		t.Fatalf("version: status %d, %v", r.StatusCode, v)
	}

	cancel()
	select {
	case err := <-done:
		t.Fatalf("run returned %v before the in-flight request finished", err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := io.WriteString(conn, body[10:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request cut short: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("in-flight request: status %d, want 201", resp.StatusCode)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after shutdown")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still accepting connections after shutdown")
	}

	logMu.Lock()
	defer logMu.Unlock()
	for _, want := range []string{`"msg":"api listening"`, `"addr":"` + addr + `"`, `"version":"9"`, `"msg":"shutting down"`, `"msg":"stopped"`, `"status":201`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, logs.String())
		}
	}
}

func waitHealthy(t *testing.T, url string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("run exited before becoming healthy: %v", err)
		default:
		}
		req, _ := http.NewRequestWithContext(t.Context(), "GET", url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered 200", url)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestAccessLogLeavesOutPassingQuaiProbes: quai's health probes (one a
// second while a replica starts, then every few seconds) stay out of the
// access log unless they fail; other requests are logged.
func TestAccessLogLeavesOutPassingQuaiProbes(t *testing.T) {
	var logs bytes.Buffer
	var logMu sync.Mutex
	s := &server{log: slog.New(slog.NewJSONHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))}
	failing := false
	h := s.logRequests(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if failing {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	get := func(path, agent string) {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.Header.Set("User-Agent", agent)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	get("/healthz", "quai-health")
	get("/api/users", "curl/8")
	failing = true
	get("/healthz", "quai-health")
	logMu.Lock()
	defer logMu.Unlock()
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"path":"/api/users"`) || !strings.Contains(lines[1], `"status":503`) {
		t.Errorf("access log:\n%s\nwant the request to /api/users and the failing probe only", logs.String())
	}
}
