package accounts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/wire"
)

func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	slices.Sort(ds)
	return ds[len(ds)/2], ds[min(len(ds)-1, len(ds)*99/100)]
}

func vmRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// BenchmarkTeamsAPI prints the figures of issue 13: API latency p50/p99 of
// status and ls over TLS with 1,000 instances across 20 organizations,
// the cost of authentication and authorization per request, and memory
// with 100 users and tokens. Run it once: bench/teams/run.sh.
func BenchmarkTeamsAPI(b *testing.B) {
	const orgs, rounds = 20, 200
	instances := 1000
	if v, err := strconv.Atoi(os.Getenv("QUAI_BENCH_INSTANCES")); err == nil && v > 0 {
		instances = v
	}
	dir := b.TempDir()
	t0 := time.Now()
	daemontest.SeedInstances(b, dir, instances, orgs)
	fmt.Printf("seeded %d instances in %s\n", instances, time.Since(t0).Round(time.Millisecond))
	var ms runtime.MemStats
	t0 = time.Now()
	d := daemontest.Start(b, daemontest.Options{DataDir: dir, KeepInstances: true})
	fmt.Printf("daemon started (re-attached %d instances) in %s\n", instances, time.Since(t0).Round(time.Millisecond))
	ctx := context.Background()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heap0, rss0 := ms.HeapInuse, vmRSS()

	tokens := map[string]string{}
	t0 = time.Now()
	for i := range 100 {
		name := fmt.Sprintf("user%03d", i)
		org := fmt.Sprintf("org%02d", i%orgs)
		if _, err := d.Client.AddUser(ctx, wire.UserRequest{Name: name, Password: "password " + name, Role: "admin", Path: org}); err != nil {
			b.Fatal(err)
		}
		tc, err := d.Client.CreateToken(ctx, wire.TokenRequest{Name: "bench", User: name})
		if err != nil {
			b.Fatal(err)
		}
		tokens[name] = tc.Secret
	}
	fmt.Printf("100 users and tokens made in %s\n", time.Since(t0).Round(time.Millisecond))
	runtime.GC()
	runtime.ReadMemStats(&ms)
	fmt.Printf("memory (daemon in the test process): heap in use %.1f MiB → %.1f MiB with 100 users and tokens; process RSS %s → %s\n",
		float64(heap0)/(1<<20), float64(ms.HeapInuse)/(1<<20), rss0, vmRSS())

	remote := httptest.NewTLSServer(d.RemoteHandler())
	defer remote.Close()
	plain := httptest.NewTLSServer(d.APIHandler())
	defer plain.Close()
	hc := remote.Client()
	pc := plain.Client()
	measure := func(c *http.Client, base, path, token string, rounds int) []time.Duration {
		out := make([]time.Duration, 0, rounds)
		for range rounds {
			req, _ := http.NewRequest("GET", base+path, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			start := time.Now()
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var sink []json.RawMessage
			_ = json.NewDecoder(resp.Body).Decode(&sink)
			_ = resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("GET %s: %d", path, resp.StatusCode)
			}
			out = append(out, time.Since(start))
		}
		return out
	}
	status := wire.Prefix + "/instances/" + url.PathEscape("org07/app000-dev")
	ls := wire.Prefix + "/instances"
	tok := tokens["user007"]
	for _, c := range []struct {
		what, path, token string
		client            *http.Client
		base              string
		rounds            int
	}{
		{"status, org admin, with auth", status, tok, hc, remote.URL, rounds},
		{"status, no auth (root)", status, "", pc, plain.URL, rounds},
		{fmt.Sprintf("ls, org admin (%d of %d), with auth", instances/orgs, instances), ls, tok, hc, remote.URL, rounds / 2},
		{fmt.Sprintf("ls, no auth (root, all %d)", instances), ls, "", pc, plain.URL, rounds / 2},
	} {
		// The first request computes what the engine does not know yet
		// (each instance's status, for ls); the next are the steady state.
		first := measure(c.client, c.base, c.path, c.token, 2)[0]
		p50, p99 := percentiles(measure(c.client, c.base, c.path, c.token, c.rounds))
		fmt.Printf("%-42s p50 %8s  p99 %8s  (%d requests over TLS, %d instances, %d orgs; first request %s)\n", c.what, p50.Round(time.Microsecond), p99.Round(time.Microsecond), c.rounds, instances, orgs, first.Round(time.Microsecond))
	}
	// The cost of auth alone: whoami answers from the principal, so its
	// time over the plain handler's info (the cheapest call) is token
	// lookup, grants, scope and the audit-free guard.
	who := measure(hc, remote.URL, wire.Prefix+"/whoami", tok, rounds)
	info := measure(pc, plain.URL, wire.Prefix+"/info", "", rounds)
	w50, _ := percentiles(who)
	i50, _ := percentiles(info)
	fmt.Printf("auth per request: whoami with a token p50 %s vs info without p50 %s: +%s (%.2fx)\n",
		w50.Round(time.Microsecond), i50.Round(time.Microsecond), (w50 - i50).Round(time.Microsecond), float64(w50)/float64(i50))
	fmt.Println("figures for", strconv.Itoa(instances), "instances done")
	b.ReportMetric(0, "ns/op")
}
