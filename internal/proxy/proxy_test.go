package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRouting(t *testing.T) {
	p := startProxy(t, "")
	web, api, apiV2, wild, other := backend(t, "web"), backend(t, "api"), backend(t, "api-v2"), backend(t, "wild"), backend(t, "other")
	mustSet(t, p, "shop",
		Route{Host: "shop.localhost", Targets: []string{addr(web)}},
		Route{Host: "shop.localhost", Path: "/api", Targets: []string{addr(api)}},
		Route{Host: "shop.localhost", Path: "/api/v2/", Targets: []string{addr(apiV2)}},
		Route{Host: "*.apps.localhost", Targets: []string{addr(wild)}},
	)
	mustSet(t, p, "blog", Route{Host: "Blog.Localhost", Targets: []string{addr(other)}})
	c := newClient()
	tests := []struct {
		name, host, path string
		status           int
		body             string
	}{
		{"root", "shop.localhost", "/", 200, "web"},
		{"host with port", "shop.localhost:8080", "/x", 200, "web"},
		{"host upper case", "SHOP.localhost", "/", 200, "web"},
		{"prefix", "shop.localhost", "/api", 200, "api"},
		{"prefix subpath", "shop.localhost", "/api/users", 200, "api"},
		{"prefix is per segment", "shop.localhost", "/apiary", 200, "web"},
		{"longest prefix wins", "shop.localhost", "/api/v2/users", 200, "api-v2"},
		{"trailing slash normalized", "shop.localhost", "/api/v2", 200, "api-v2"},
		{"wildcard", "a.apps.localhost", "/", 200, "wild"},
		{"wildcard is one label", "a.b.apps.localhost", "/", 404, `quai: no route for host "a.b.apps.localhost"` + "\n"},
		{"wildcard needs a label", "apps.localhost", "/", 404, `quai: no route for host "apps.localhost"` + "\n"},
		{"other instance", "blog.localhost", "/", 200, "other"},
		{"unknown host", "nope.localhost", "/", 404, `quai: no route for host "nope.localhost"` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, h := get(t, c, p.HTTPAddr(), tc.host, tc.path)
			expect(t, "status", status, tc.status)
			expect(t, "body", body, tc.body)
			if status == 404 {
				expect(t, "content type", h.Get("Content-Type"), "text/plain; charset=utf-8")
			}
		})
	}
}

func TestNoTarget503(t *testing.T) {
	p := startProxy(t, "")
	mustSet(t, p, "a", Route{Host: "a.localhost"}, Route{Host: "*.w.localhost"})
	c := newClient()
	// A browser gets a small page, the host in it escaped.
	for _, host := range []string{"a.localhost", "x.w.localhost", "A.localhost"} {
		status, body, h := get(t, c, p.HTTPAddr(), host, "/some/page")
		expect(t, host+" status", status, http.StatusServiceUnavailable)
		expect(t, host+" content type", h.Get("Content-Type"), "text/html; charset=utf-8")
		expect(t, host+" retry-after", h.Get("Retry-After"), "5")
		want := "<title>" + strings.ToLower(host) + " is temporarily unavailable</title>"
		if !strings.Contains(body, want) || !strings.HasPrefix(body, "<!doctype html>") {
			t.Errorf("%s: the page does not say %q:\n%s", host, want, body)
		}
	}
	// A client asking for JSON gets the one JSON error shape.
	req, _ := http.NewRequest(http.MethodGet, "http://"+p.HTTPAddr()+"/api/items", nil)
	req.Host = "a.localhost"
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var e struct {
		Error struct{ Code, Message, Hint string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	expect(t, "json status", resp.StatusCode, http.StatusServiceUnavailable)
	expect(t, "json content type", resp.Header.Get("Content-Type"), "application/json")
	expect(t, "json retry-after", resp.Header.Get("Retry-After"), "5")
	expect(t, "json code", e.Error.Code, "unavailable")
	if !strings.Contains(e.Error.Message, "a.localhost is temporarily unavailable") {
		t.Errorf("json message %q", e.Error.Message)
	}
	// A host nobody routes stays 404.
	status, body, _ := get(t, c, p.HTTPAddr(), "nobody.localhost", "/")
	expect(t, "unknown host status", status, http.StatusNotFound)
	expect(t, "unknown host body", body, "quai: no route for host \"nobody.localhost\"\n")
}

func TestWantsJSON(t *testing.T) {
	for accept, want := range map[string]bool{
		"":                         false,
		"*/*":                      false,
		"application/json":         true,
		"application/problem+json": true,
		"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8": false,
		"application/json, text/html;q=0.1":                               false,
	} {
		expect(t, "wantsJSON("+accept+")", wantsJSON(accept), want)
	}
}

func TestRoundRobin(t *testing.T) {
	p := startProxy(t, "")
	names := []string{"b0", "b1", "b2"}
	var targets []string
	for _, n := range names {
		targets = append(targets, addr(backend(t, n)))
	}
	mustSet(t, p, "a", Route{Host: "a.localhost", Targets: targets})
	c := newClient()
	counts := map[string]int{}
	var order []string
	for i := 0; i < 30; i++ {
		_, body, _ := get(t, c, p.HTTPAddr(), "a.localhost", "/")
		counts[body]++
		order = append(order, body)
	}
	for _, n := range names {
		expect(t, "requests to "+n, counts[n], 10)
	}
	for i := 3; i < len(order); i++ {
		if order[i] != order[i-3] {
			t.Fatalf("not a rotation: %v", order)
		}
	}
}

func TestLeastConn(t *testing.T) {
	p := startProxy(t, "")
	release := make(chan struct{})
	slowStarted := make(chan struct{}, 8)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slowStarted <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "slow")
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	fast := backend(t, "fast")
	mustSet(t, p, "a", Route{Host: "a.localhost", Targets: []string{addr(slow), addr(fast)}, Balance: LeastConn})
	c := newClient()
	// Occupy the slow target with requests that wait; least-conn must then
	// send everything else to the fast one.
	var wg sync.WaitGroup
	held := 0
	for held == 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, _ = get(t, c, p.HTTPAddr(), "a.localhost", "/")
		}()
		select {
		case <-slowStarted:
			held++
		case <-time.After(100 * time.Millisecond):
			// that request went to the fast target
		}
	}
	for i := 0; i < 20; i++ {
		_, body, _ := get(t, c, p.HTTPAddr(), "a.localhost", "/")
		expect(t, "least-conn target", body, "fast")
	}
	close(release)
	wg.Wait()
}

func TestForwardedHeaders(t *testing.T) {
	p := startProxy(t, "")
	got := make(chan http.Header, 1)
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("Host", r.Host)
		got <- h
	}))
	t.Cleanup(b.Close)
	mustSet(t, p, "a", Route{Host: "a.localhost", Targets: []string{addr(b)}})
	req, _ := http.NewRequest("GET", "http://"+p.HTTPAddr()+"/x?q=1", nil)
	req.Host = "a.localhost"
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("Connection", "keep-alive, X-Secret")
	req.Header.Set("X-Secret", "hop")
	req.Header.Set("X-Custom", "kept")
	resp, err := newClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	h := <-got
	expect(t, "X-Forwarded-For (client value is not trusted)", h.Get("X-Forwarded-For"), "127.0.0.1")
	expect(t, "X-Forwarded-Proto", h.Get("X-Forwarded-Proto"), "http")
	expect(t, "X-Forwarded-Host", h.Get("X-Forwarded-Host"), "a.localhost")
	expect(t, "Host preserved", h.Get("Host"), "a.localhost")
	expect(t, "header named by Connection removed", h.Get("X-Secret"), "")
	expect(t, "custom header", h.Get("X-Custom"), "kept")
}

func TestTrustForwardedHeaders(t *testing.T) {
	p, err := New(Config{HTTPAddr: "127.0.0.1:0", TrustForwardedHeaders: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(t.Context()) })
	got := make(chan http.Header, 1)
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Clone() }))
	t.Cleanup(b.Close)
	mustSet(t, p, "a", Route{Host: "a.localhost", Targets: []string{addr(b)}})
	req, _ := http.NewRequest("GET", "http://"+p.HTTPAddr()+"/", nil)
	req.Host = "a.localhost"
	req.Header.Set("X-Forwarded-For", "10.1.2.3")
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := newClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	h := <-got
	expect(t, "X-Forwarded-For appended", h.Get("X-Forwarded-For"), "10.1.2.3, 127.0.0.1")
	expect(t, "X-Forwarded-Proto kept", h.Get("X-Forwarded-Proto"), "https")
}

func TestBodiesAndStreaming(t *testing.T) {
	p := startProxy(t, "")
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-Sum")
		w.Header().Set("X-Method", r.Method)
		_, _ = w.Write([]byte(strings.ToUpper(string(body))))
		w.(http.Flusher).Flush()
		w.Header().Set("X-Sum", "42")
	}))
	t.Cleanup(b.Close)
	mustSet(t, p, "a", Route{Host: "a.localhost", Targets: []string{addr(b)}})
	c := newClient()
	for _, method := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		status, body, h := do(t, c, method, p.HTTPAddr(), "a.localhost", "/", "hello "+method)
		expect(t, method+" status", status, 200)
		expect(t, method+" body", body, strings.ToUpper("hello "+method))
		expect(t, method+" seen method", h.Get("X-Method"), method)
	}
	// A chunked request body (unknown length).
	req, _ := http.NewRequest("POST", "http://"+p.HTTPAddr()+"/", io.MultiReader(strings.NewReader("chunked "), strings.NewReader("body")))
	req.Host = "a.localhost"
	req.ContentLength = -1
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	expect(t, "chunked body", string(body), "CHUNKED BODY")
	expect(t, "trailer", resp.Trailer.Get("X-Sum"), "42")
	// HEAD keeps the length header without a body.
	status, hb, _ := do(t, c, "HEAD", p.HTTPAddr(), "a.localhost", "/", "")
	expect(t, "HEAD status", status, 200)
	expect(t, "HEAD body", hb, "")
}

func TestRetryIdempotentOnly(t *testing.T) {
	p := startProxy(t, "")
	live := backend(t, "live")
	dead := deadAddr(t)
	mustSet(t, p, "a", Route{Host: "a.localhost", Targets: []string{dead, addr(live)}})
	c := newClient()
	// Round robin alternates, so over a few requests the dead target is
	// picked first at least once; every GET must still succeed.
	for i := 0; i < 6; i++ {
		status, body, _ := get(t, c, p.HTTPAddr(), "a.localhost", "/")
		expect(t, "GET status", status, 200)
		expect(t, "GET body", body, "live")
	}
	// A PUT with a small body is replayable too.
	for i := 0; i < 4; i++ {
		status, _, _ := do(t, c, "PUT", p.HTTPAddr(), "a.localhost", "/", "data")
		expect(t, "PUT status", status, 200)
	}
	// POST is not retried: with the dead target alone it fails with 502.
	mustSet(t, p, "a", Route{Host: "a.localhost", Targets: []string{dead}})
	status, body, _ := do(t, c, "POST", p.HTTPAddr(), "a.localhost", "/", "x")
	expect(t, "POST status", status, 502)
	expect(t, "POST body", body, "quai: upstream for a.localhost/ failed\n")
	// And with a live second target, a POST that lands on the dead one is
	// not moved to it: count the 502s over two rotations.
	mustSet(t, p, "a", Route{Host: "a.localhost", Targets: []string{dead, addr(live)}})
	failed := 0
	for i := 0; i < 4; i++ {
		// The dead target is benched for a second after a refused dial;
		// wait it out so the rotation reaches it again.
		for _, tg := range p.table.Load().match("a.localhost", "/").targets {
			tg.downUntil.Store(0)
		}
		status, _, _ := do(t, c, "POST", p.HTTPAddr(), "a.localhost", "/", "x")
		if status == 502 {
			failed++
		}
	}
	expect(t, "POSTs sent to the dead target and not retried", failed, 2)
}

func TestStaleKeepAliveIsRetried(t *testing.T) {
	p := startProxy(t, "")
	// A backend that closes every connection after its response without
	// saying so: the pooled connection is dead when reused.
	b := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	b.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateIdle {
			_ = c.Close()
		}
	}
	b.Start()
	t.Cleanup(b.Close)
	mustSet(t, p, "a", Route{Host: "a.localhost", Targets: []string{addr(b)}})
	c := newClient()
	for i := 0; i < 5; i++ {
		status, body, _ := get(t, c, p.HTTPAddr(), "a.localhost", "/")
		expect(t, "status", status, 200)
		expect(t, "body", body, "ok")
	}
}

func TestSetRoutesValidation(t *testing.T) {
	p := startProxy(t, "")
	b := addr(backend(t, "b"))
	mustSet(t, p, "one", Route{Host: "one.localhost", Targets: []string{b}})
	before := p.Snapshot()
	tests := []struct {
		name   string
		routes []Route
		err    error
		msg    string
	}{
		{"empty host", []Route{{Targets: []string{b}}}, ErrInvalidRoute, "host is empty"},
		{"bad host", []Route{{Host: "a b.localhost"}}, ErrInvalidRoute, "not a valid host name"},
		{"inner wildcard", []Route{{Host: "a.*.localhost"}}, ErrInvalidRoute, "not a valid host name"},
		{"bad path", []Route{{Host: "x.localhost", Path: "api"}}, ErrInvalidRoute, "must start with /"},
		{"bad target", []Route{{Host: "x.localhost", Targets: []string{"nohost"}}}, ErrInvalidRoute, "not host:port"},
		{"bad port", []Route{{Host: "x.localhost", Targets: []string{"127.0.0.1:99999"}}}, ErrInvalidRoute, "invalid port"},
		{"bad balance", []Route{{Host: "x.localhost", Balance: "random"}}, ErrInvalidRoute, "balance"},
		{"bad tls", []Route{{Host: "x.localhost", TLS: "maybe"}}, ErrInvalidRoute, "tls"},
		{"custom without files", []Route{{Host: "x.localhost", TLS: "custom"}}, ErrInvalidRoute, "certificate file"},
		{"missing cert files", []Route{{Host: "x.localhost", TLS: "custom", CertFile: "/nonexistent.pem", KeyFile: "/nonexistent.key"}}, ErrInvalidRoute, "/nonexistent.pem"},
		{"duplicate in instance", []Route{{Host: "x.localhost"}, {Host: "x.localhost", Path: "/"}}, ErrInvalidRoute, "twice"},
		{"conflict with another instance", []Route{{Host: "one.localhost", Path: "/"}}, ErrConflict, `already routed by instance "one"`},
		{"mixed TLS on one host", []Route{{Host: "y.localhost"}, {Host: "y.localhost", Path: "/a", TLS: "off"}}, ErrConflict, "share its TLS"},
		{"one bad among good", []Route{{Host: "ok.localhost", Targets: []string{b}}, {Host: ""}}, ErrInvalidRoute, "route 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := p.SetRoutes("two", tc.routes)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
			if got := p.Snapshot(); !reflect.DeepEqual(got, before) {
				t.Errorf("table changed on error: %v", got)
			}
		})
	}
	// The instance whose routes are refused is the one being set, even when
	// its name sorts before the instance that serves the route.
	err := p.SetRoutes("a-newcomer", []Route{{Host: "one.localhost", Targets: []string{b}}})
	if want := `instance "a-newcomer": one.localhost/ is already routed by instance "one"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("conflict error %v, want one saying %s", err, want)
	}
	// Replacing an instance's routes with a valid set works, and the other
	// instance's routes are untouched.
	mustSet(t, p, "two", Route{Host: "two.localhost", Targets: []string{b}})
	snap := p.Snapshot()
	expect(t, "instances", len(snap), 2)
	expect(t, "defaults filled", snap["two"][0], Route{Host: "two.localhost", Path: "/", Targets: []string{b}, Balance: RoundRobin, TLS: TLSAuto})
	p.RemoveInstance("two")
	if _, ok := p.Snapshot()["two"]; ok {
		t.Error("RemoveInstance left routes behind")
	}
	status, _, _ := get(t, newClient(), p.HTTPAddr(), "two.localhost", "/")
	expect(t, "removed host", status, 404)
}

func TestUpstreamErrorAfterHeadersAbortsClient(t *testing.T) {
	p := startProxy(t, "")
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		_ = conn.Close()
	}))
	t.Cleanup(b.Close)
	mustSet(t, p, "a", Route{Host: "a.localhost", Targets: []string{addr(b)}})
	req, _ := http.NewRequest("GET", "http://"+p.HTTPAddr()+"/", nil)
	req.Host = "a.localhost"
	// The client sees an error, at the header or in the body, never a
	// short body presented as complete.
	resp, err := newClient().Do(req)
	if err == nil {
		defer func() { _ = resp.Body.Close() }()
		_, err = io.ReadAll(resp.Body)
	}
	if err == nil {
		t.Fatal("a truncated upstream body reached the client as complete")
	}
}

// lockedBuffer collects log output written from the proxy's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSpace(b.buf.String()), "\n")
}

func TestAccessLog(t *testing.T) {
	var out lockedBuffer
	p, err := New(Config{HTTPAddr: "127.0.0.1:0", Logger: slog.New(slog.NewJSONHandler(&out, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(t.Context()) })
	b := backend(t, "b")
	mustSet(t, p, "a", Route{Host: "a.localhost", Targets: []string{addr(b)}})
	c := newClient()
	get(t, c, p.HTTPAddr(), "a.localhost", "/fast?x=1")
	// HTTP/1.0 is served by the net/http path: both paths log alike.
	rawExchange(t, p.HTTPAddr(), "GET /std HTTP/1.0\r\nHost: a.localhost\r\n\r\n", 1)
	get(t, c, p.HTTPAddr(), "nope.localhost", "/")
	var lines []string
	for i := 0; i < 200; i++ { // the line is written just after the response
		if lines = out.lines(); len(lines) >= 3 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(lines) != 3 {
		t.Fatalf("log lines: %q", lines)
	}
	want := []map[string]any{
		{"msg": "request", "method": "GET", "host": "a.localhost", "path": "/fast", "status": 200.0, "bytes": 1.0, "upstream": addr(b), "remote": "127.0.0.1"},
		{"msg": "request", "method": "GET", "host": "a.localhost", "path": "/std", "status": 200.0, "bytes": 1.0, "upstream": addr(b)},
		{"msg": "request", "host": "nope.localhost", "path": "/", "status": 404.0, "upstream": ""},
	}
	// Lines may land in any order: each is written after its response.
	byKey := map[string]map[string]any{}
	for i, line := range lines {
		var got map[string]any
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		byKey[fmt.Sprint(got["host"], got["path"])] = got
	}
	for i, w := range want {
		got := byKey[fmt.Sprint(w["host"], w["path"])]
		if got == nil {
			t.Errorf("no log line for %v in %q", w, lines)
			continue
		}
		for k, v := range w {
			if got[k] != v {
				t.Errorf("line %d: %s = %v, want %v (%v)", i, k, got[k], v, got)
			}
		}
		if _, ok := got["dur"]; !ok {
			t.Errorf("line %d has no duration: %v", i, got)
		}
	}
}
