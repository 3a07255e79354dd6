// Package webbench measures the dashboard against a real daemon: the
// instances page with 500 instances (seeded in the store, as the teams
// benchmark does), time to first byte and full response, server side over
// loopback, and its size.
package webbench

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/wire"
)

func TestMain(m *testing.M) { daemontest.Main(m) }

// BenchmarkInstancesPage prints the instances page's time to first byte
// and full response (p50/p99 of rounds requests, gzip as a browser asks)
// with QUAI_BENCH_INSTANCES (500) instances in 20 organizations, for an
// administrator of every organization logged in with a password, through
// the API handler the TLS listener serves. Run it once: bench/web/run.sh.
func BenchmarkInstancesPage(b *testing.B) {
	const orgs, rounds = 20, 50
	instances := 500
	if v, err := strconv.Atoi(os.Getenv("QUAI_BENCH_INSTANCES")); err == nil && v > 0 {
		instances = v
	}
	dir := b.TempDir()
	daemontest.SeedInstances(b, dir, instances, orgs)
	d := daemontest.Start(b, daemontest.Options{DataDir: dir, KeepInstances: true})
	ctx := b.Context()
	const password = "bench password 1"
	if _, err := d.Client.AddUser(ctx, wire.UserRequest{Name: "ada", Password: password, Role: "admin", Path: "*"}); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(d.WebHandler())
	b.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	c := &http.Client{Jar: jar, Transport: &http.Transport{DisableCompression: true}}
	resp, err := c.PostForm(srv.URL+"/ui/login", url.Values{"user": {"ada"}, "password": {password}})
	if err != nil {
		b.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.Request.URL.Path != "/ui/" {
		b.Fatalf("login ended at %s (%d)", resp.Request.URL, resp.StatusCode)
	}
	var ttfb, full []time.Duration
	var size, plain int
	for i := range rounds + 1 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/ui/", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		var first time.Time
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}))
		t0 := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		end := time.Now()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("GET /ui/: %d %v", resp.StatusCode, err)
		}
		if i == 0 { // the first warms the caches
			size = len(body)
			zr, err := gzip.NewReader(strings.NewReader(string(body)))
			if err != nil {
				b.Fatalf("the page is not gzip: %v", err)
			}
			p, _ := io.ReadAll(zr)
			plain = len(p)
			if n := strings.Count(string(p), "<tr data-instance="); n != instances {
				b.Fatalf("the page lists %d instances, want %d", n, instances)
			}
			continue
		}
		ttfb, full = append(ttfb, first.Sub(t0)), append(full, end.Sub(t0))
	}
	fmt.Printf("instances page, %d instances, %d requests (daemon with its API, loopback): time to first byte p50 %s p99 %s; full response p50 %s p99 %s; %.0f KB HTML, %.0f KB gzip\n",
		instances, rounds, p(ttfb, 50), p(ttfb, 99), p(full, 50), p(full, 99), float64(plain)/1024, float64(size)/1024)
	// The two API calls the page makes, alone, with the same user's token:
	// what of the page's time is the API's.
	tc, err := d.Client.CreateToken(ctx, wire.TokenRequest{Name: "bench", User: "ada"})
	if err != nil {
		b.Fatal(err)
	}
	api := client.NewInProcess(d.RemoteHandler(), tc.Secret)
	var ls, top []time.Duration
	for range rounds {
		t0 := time.Now()
		if _, err := api.Instances(ctx); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := api.MetricsTop(ctx); err != nil {
			b.Fatal(err)
		}
		ls, top = append(ls, t1.Sub(t0)), append(top, time.Since(t1))
	}
	fmt.Printf("of which the API: GET /instances p50 %s p99 %s; GET /metrics/top p50 %s p99 %s\n", p(ls, 50), p(ls, 99), p(top, 50), p(top, 99))
	for range b.N {
		// The figures are printed above; the loop is the harness's.
	}
}

func p(ds []time.Duration, pct int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*pct/100)].Round(100 * time.Microsecond)
}
