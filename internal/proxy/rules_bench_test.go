package proxy

import (
	"bytes"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchGets sends req through c in parallel and reports requests per
// second and the CPU time per request of the whole process (client, proxy
// and backend together: differences between sub-benchmarks are what the
// proxy's work costs).
func benchGets(b *testing.B, c *http.Client, req *http.Request, wantStatus int) {
	b.ReportAllocs()
	b.SetParallelism(8)
	cpu0, t0 := cpuTime(b), time.Now()
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
			if resp.StatusCode != wantStatus {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	cpu, wall := cpuTime(b)-cpu0, time.Since(t0)
	b.ReportMetric(float64(b.N)/wall.Seconds(), "req/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchmarkCompressProxy: a 16 KiB HTML page through the proxy on a route
// with compress, asked for with no Accept-Encoding, gzip and zstd.
func BenchmarkCompressProxy(b *testing.B) {
	be := compressBackend(b)
	p := startProxy(b, "")
	mustSet(b, p, "bench", Route{Host: "c.localhost", Targets: []string{addr(be)}, Rules: &Rules{Compress: []string{EncodingZstd, EncodingGzip}}})
	for _, enc := range []string{"none", "gzip", "zstd"} {
		b.Run(enc, func(b *testing.B) {
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}}
			req, _ := http.NewRequest("GET", "http://"+p.HTTPAddr()+"/page.html", nil)
			req.Host = "c.localhost"
			if enc != "none" {
				req.Header.Set("Accept-Encoding", enc)
			}
			benchGets(b, c, req, 200)
		})
	}
}

// BenchmarkCompressEncoder: the encoders alone on the same 16 KiB page,
// pooled as the proxy uses them; reports the compressed size.
func BenchmarkCompressEncoder(b *testing.B) {
	html := sampleHTML()
	for _, enc := range []string{EncodingGzip, EncodingZstd} {
		b.Run(enc, func(b *testing.B) {
			var out bytes.Buffer
			b.SetBytes(int64(len(html)))
			b.ReportAllocs()
			for b.Loop() {
				out.Reset()
				e := getEncoder(enc, &out)
				_, _ = e.Write(html)
				_ = e.Close()
				putEncoder(enc, e)
			}
			b.ReportMetric(float64(out.Len()), "out-bytes")
		})
	}
}

// BenchmarkRules: the per-request cost of rules. "none" is a route without
// rules (the fast path); "headers" adds one response header, which moves
// the route to net/http (the price of leaving the fast path);
// "allow+ratelimit" checks an allow list and a per-client rate limit that
// never refuses.
func BenchmarkRules(b *testing.B) {
	be := staticBackend(b)
	p := startProxy(b, "")
	mustSet(b, p, "bench",
		Route{Host: "none.localhost", Targets: []string{addr(be)}},
		Route{Host: "headers.localhost", Targets: []string{addr(be)}, Rules: &Rules{Headers: map[string]string{"X-Frame-Options": "DENY"}}},
		Route{Host: "acl.localhost", Targets: []string{addr(be)}, Rules: &Rules{
			Allow:     []string{"10.0.0.0/8", "192.168.0.0/16", "127.0.0.0/8"},
			RateLimit: &RateLimit{PerSecond: 1e6, Burst: 1e6},
		}},
	)
	for _, tc := range []struct{ name, host string }{{"none", "none.localhost"}, {"headers", "headers.localhost"}, {"allow+ratelimit", "acl.localhost"}} {
		b.Run(tc.name, func(b *testing.B) {
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}
			req, _ := http.NewRequest("GET", "http://"+p.HTTPAddr()+"/index.html", nil)
			req.Host = tc.host
			benchGets(b, c, req, 200)
		})
	}
}
