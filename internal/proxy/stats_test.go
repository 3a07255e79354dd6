package proxy

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestStatsCountRealRequests sends requests through both paths of a real
// proxy (the fast path and net/http's, which an upper-case Host takes) to
// real backends and checks what Stats reads back.
func TestStatsCountRealRequests(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/boom":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "boom")
		case "/missing":
			http.NotFound(w, r)
		case "/slow":
			time.Sleep(30 * time.Millisecond)
			_, _ = io.WriteString(w, "slow")
		default:
			_, _ = io.WriteString(w, "hello")
		}
	}))
	t.Cleanup(ok.Close)
	// A target nobody listens on: the request fails over to the live one.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()

	p := startProxy(t, "")
	mustSet(t, p, "shop", Route{Host: "shop.localhost", Targets: []string{addr(ok)}, Service: "web"},
		Route{Host: "shop.localhost", Path: "/api", Targets: []string{dead, addr(ok)}, Service: "api", Balance: LeastConn})

	c := &http.Client{Transport: &http.Transport{}}
	for range 5 {
		if st, body, _ := get(t, c, p.HTTPAddr(), "shop.localhost", "/"); st != 200 || body != "hello" {
			t.Fatalf("GET /: %d %q", st, body)
		}
	}
	if st, _, _ := get(t, c, p.HTTPAddr(), "SHOP.localhost", "/boom"); st != 500 { // net/http path
		t.Fatalf("GET /boom: %d", st)
	}
	if st, _, _ := get(t, c, p.HTTPAddr(), "shop.localhost", "/missing"); st != 404 {
		t.Fatalf("GET /missing: %d", st)
	}
	if st, _, _ := get(t, c, p.HTTPAddr(), "shop.localhost", "/slow"); st != 200 {
		t.Fatalf("GET /slow: %d", st)
	}
	if st, _, _ := do(t, c, http.MethodPut, p.HTTPAddr(), "shop.localhost", "/api/x", "0123456789"); st != 200 {
		t.Fatalf("PUT /api/x: %d", st)
	}
	if st, _, _ := get(t, c, p.HTTPAddr(), "nowhere.localhost", "/"); st != 404 {
		t.Fatalf("unrouted: %d", st)
	}

	stats := p.Stats()
	if len(stats) != 2 {
		t.Fatalf("Stats: %d routes, want 2: %+v", len(stats), stats)
	}
	root, api := stats[0], stats[1]
	if root.Path != "/" || root.Service != "web" || api.Path != "/api" || api.Service != "api" {
		t.Fatalf("routes: %+v %+v", root, api)
	}
	if got := root.Requests(); got != 8 {
		t.Errorf("root requests = %d, want 8", got)
	}
	if root.Responses[2] != 6 || root.Responses[4] != 1 || root.Responses[5] != 1 {
		t.Errorf("root by class = %v, want 6 2xx, 1 4xx, 1 5xx", root.Responses)
	}
	var inBuckets uint64
	for _, n := range root.Latency {
		inBuckets += n
	}
	if inBuckets != 8 {
		t.Errorf("latency histogram holds %d requests, want 8", inBuckets)
	}
	// The slow request lands above the 25 ms bound.
	var above uint64
	for i, b := range LatencyBounds() {
		if b >= 25*time.Millisecond {
			above += root.Latency[i]
		}
	}
	above += root.Latency[len(LatencyBounds())]
	if above < 1 || root.LatencySum < 30*time.Millisecond {
		t.Errorf("slow request not seen: %d above 25ms, sum %v", above, root.LatencySum)
	}
	if root.BytesOut < 5*5+4+4 {
		t.Errorf("root bytes out = %d", root.BytesOut)
	}
	if api.Requests() != 1 || api.Responses[2] != 1 || api.BytesIn != 10 {
		t.Errorf("api = %+v, want one 2xx with 10 bytes in", api)
	}
	// Least-conn with both idle picks the first; either way, a try on the
	// dead target is an upstream error followed by a retry.
	if api.UpstreamErrors != api.Retries || api.UpstreamErrors > 1 {
		t.Errorf("api upstream errors %d, retries %d", api.UpstreamErrors, api.Retries)
	}
	if p.Unrouted() != 1 {
		t.Errorf("unrouted = %d, want 1", p.Unrouted())
	}

	// A redeploy swaps the table: the counters carry on.
	mustSet(t, p, "shop", Route{Host: "shop.localhost", Targets: []string{addr(ok)}, Service: "web"})
	if st, _, _ := get(t, c, p.HTTPAddr(), "shop.localhost", "/"); st != 200 {
		t.Fatal(st)
	}
	stats = p.Stats()
	if len(stats) != 1 || stats[0].Requests() != 9 {
		t.Fatalf("after the swap: %+v, want the root route at 9 requests", stats)
	}
	if p.OpenConns() < 1 {
		t.Errorf("open connections = %d, want the client's", p.OpenConns())
	}
}

// TestStatsRetriesCounted makes every attempt of a request fail before a
// response, on a route with two dead targets.
func TestStatsRetriesCounted(t *testing.T) {
	var dead []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead = append(dead, ln.Addr().String())
		_ = ln.Close()
	}
	p := startProxy(t, "")
	mustSet(t, p, "gone", Route{Host: "gone.localhost", Targets: dead})
	c := &http.Client{}
	st, body, _ := get(t, c, p.HTTPAddr(), "gone.localhost", "/")
	if st != 502 || !strings.Contains(body, "failed") {
		t.Fatalf("%d %q, want 502", st, body)
	}
	// The proxy counts a request once its response is written, which the
	// client may read first: wait for the count (bounded).
	var s RouteStats
	for range 200 {
		if s = p.Stats()[0]; s.Responses[5] == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s.Responses[5] != 1 || s.UpstreamErrors != 2 || s.Retries != 1 {
		t.Errorf("stats = %+v, want one 5xx, 2 upstream errors, 1 retry", s)
	}
}

// TestNoStats checks the switch the benchmark compares with.
func TestNoStats(t *testing.T) {
	be := staticBackend(t)
	p := startProxyConfig(t, Config{HTTPAddr: "127.0.0.1:0", NoStats: true})
	mustSet(t, p, "x", Route{Host: "x.localhost", Targets: []string{addr(be)}})
	if st, _, _ := get(t, &http.Client{}, p.HTTPAddr(), "x.localhost", "/"); st != 200 {
		t.Fatal(st)
	}
	if s := p.Stats(); s != nil {
		t.Fatalf("Stats with NoStats = %+v", s)
	}
}
