package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"
)

// staticBackend answers every request with 1 KiB, like bench/proxy.
func staticBackend(tb testing.TB) *httptest.Server {
	body := make([]byte, 1024)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = []string{"text/plain"}
		_, _ = w.Write(body)
	}))
	tb.Cleanup(s.Close)
	return s
}

// BenchmarkProxy compares a request sent straight to a backend with the
// same request through quai's proxy and through httputil.ReverseProxy.
// Client, proxy and backend share the process, so the ns/op differences
// are the proxies' own cost.
func BenchmarkProxy(b *testing.B) {
	be := staticBackend(b)
	p := startProxy(b, "")
	mustSet(b, p, "bench", Route{Host: "bench.localhost", Targets: []string{addr(be)}})

	u := &url.URL{Scheme: "http", Host: addr(be)}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 1024}
	std := httptest.NewServer(rp)
	b.Cleanup(std.Close)

	for _, tc := range []struct{ name, addr string }{
		{"direct", addr(be)},
		{"quai", p.HTTPAddr()},
		{"httputil", addr(std)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}
			req, err := http.NewRequest("GET", "http://"+tc.addr+"/index.html", nil)
			if err != nil {
				b.Fatal(err)
			}
			req.Host = "bench.localhost"
			b.ReportAllocs()
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := c.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					n, _ := io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if resp.StatusCode != 200 || n != 1024 {
						b.Errorf("status %d, %d bytes", resp.StatusCode, n)
						return
					}
				}
			})
		})
	}
}

// BenchmarkMatch measures the routing table lookup on a table of 1000
// hosts, from a string (the net/http path) and from the bytes of a read
// buffer (the fast path).
func BenchmarkMatch(b *testing.B) {
	tbl := bigTable(b)
	b.Run("string", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if tbl.match("app-500.example.com", "/api/users/42") == nil {
				b.Fatal("no match")
			}
		}
	})
	host, path := []byte("app-500.example.com"), []byte("/api/users/42")
	b.Run("bytes", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if tbl.matchBytes(host, path) == nil {
				b.Fatal("no match")
			}
		}
	})
}

// BenchmarkTokens measures splitting a Connection header into its tokens,
// from a string and from bytes.
func BenchmarkTokens(b *testing.B) {
	const v = " keep-alive ,\tUpgrade, X-Custom-Hop\t"
	n := 0
	b.Run("string", func(b *testing.B) {
		for b.Loop() {
			forEachToken(v, func(tok string) { n += len(tok) })
		}
	})
	vb := []byte(v)
	b.Run("bytes", func(b *testing.B) {
		for b.Loop() {
			forEachTokenBytes(vb, func(tok []byte) { n += len(tok) })
		}
	})
	if n == 0 {
		b.Fatal("no tokens")
	}
}

func bigTable(tb testing.TB) *table {
	routes := map[string][]Route{}
	for i := 0; i < 1000; i++ {
		inst := fmt.Sprintf("i%d", i)
		for _, path := range []string{"/", "/api", "/static"} {
			r, err := normalize(inst, 0, Route{Host: fmt.Sprintf("app-%d.example.com", i), Path: path, Targets: []string{"127.0.0.1:1"}})
			if err != nil {
				tb.Fatal(err)
			}
			routes[inst] = append(routes[inst], r)
		}
	}
	tbl, err := buildTable(routes, "", nil)
	if err != nil {
		tb.Fatal(err)
	}
	return tbl
}

func TestMatchDoesNotAllocate(t *testing.T) {
	tbl := bigTable(t)
	allocs := testing.AllocsPerRun(100, func() {
		_ = tbl.match(canonicalHost("app-7.example.com:8080"), "/static/app.js")
	})
	expect(t, "allocations per lookup", allocs, 0)
	// From a read buffer, with a host longer than the 32 bytes a string
	// conversion may borrow from the stack.
	host, path := []byte("app-7.example.com"), []byte("/static/app.js")
	host = append(bytes.Repeat([]byte("x"), 40), host...)
	allocs = testing.AllocsPerRun(100, func() { _ = tbl.matchBytes(host, path) })
	expect(t, "allocations per lookup from bytes", allocs, 0)
}

// BenchmarkProxyStats is BenchmarkProxy's quai case with the per-route
// request statistics on and off: the ns/op ratio is what they cost.
func BenchmarkProxyStats(b *testing.B) {
	be := staticBackend(b)
	for _, tc := range []struct {
		name    string
		noStats bool
	}{{"off", true}, {"on", false}, {"off2", true}, {"on2", false}} {
		p := startProxyConfig(b, Config{HTTPAddr: "127.0.0.1:0", NoStats: tc.noStats})
		mustSet(b, p, "bench", Route{Host: "bench.localhost", Targets: []string{addr(be)}})
		b.Run(tc.name, func(b *testing.B) {
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}
			req, err := http.NewRequest("GET", "http://"+p.HTTPAddr()+"/index.html", nil)
			if err != nil {
				b.Fatal(err)
			}
			req.Host = "bench.localhost"
			b.ReportAllocs()
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := c.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}
			})
		})
	}
}

// BenchmarkStatsObserve is what the statistics add to one request: the
// clock read for the latency and the counter updates, on every core at
// once on one route (the contended case). Compare with the proxy's CPU per
// request (bench/proxy/run.sh's cpu_us/req).
func BenchmarkStatsObserve(b *testing.B) {
	s := &routeStats{}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start := time.Now()
			s.observe(200, time.Since(start), 0, 1024)
			s.attempts(0, 0)
		}
	})
}
