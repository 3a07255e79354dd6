// Command load sends a steady, bounded stream of HTTP requests to quai's
// proxy and counts the ones that failed: the deploy benchmark
// (bench/deploy/run.sh) runs it while it updates an instance, so any request
// dropped during a replica switch shows up as a failure.
//
// Every request goes to a loopback address whatever the URL's host says, so
// virtual hosts such as users-api.dev.localhost need no resolver. It runs
// until -duration elapses or SIGTERM/SIGINT arrives, then prints one line of
// key=value figures on stdout (for shell scripts) and, with -json FILE, the
// full summary as JSON. It imports nothing from quai.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Summary is what load prints when it stops.
type Summary struct {
	Requests int64            `json:"requests"`
	Failures int64            `json:"failures"`
	Seconds  float64          `json:"seconds"`
	ByStatus map[string]int64 `json:"by_status"`
	// Versions counts the "version" field of /api/version answers: it shows
	// the releases that served during the run.
	Versions map[string]int64 `json:"versions,omitempty"`
	// Samples are the first failures, to tell what went wrong.
	Samples []string `json:"samples,omitempty"`
	// LatencyMs are percentiles over successful requests.
	LatencyMs map[string]float64 `json:"latency_ms"`
}

type options struct {
	urls        []string
	connect     string
	concurrency int
	rate        float64
	duration    time.Duration
	timeout     time.Duration
}

func main() {
	var o options
	var urls string
	flag.StringVar(&urls, "urls", "", "comma-separated URLs to request in turn")
	flag.StringVar(&o.connect, "connect", "127.0.0.1", "address every connection goes to; the port comes from the URL")
	flag.IntVar(&o.concurrency, "c", 8, "concurrent clients")
	flag.Float64Var(&o.rate, "rate", 200, "requests per second, all clients together")
	flag.DurationVar(&o.duration, "duration", 5*time.Minute, "stop after this long at the latest")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "per-request timeout")
	jsonOut := flag.String("json", "", "also write the full summary as JSON to this file")
	flag.Parse()
	for u := range strings.SplitSeq(urls, ",") {
		if u = strings.TrimSpace(u); u != "" {
			o.urls = append(o.urls, u)
		}
	}
	if len(o.urls) == 0 || o.concurrency < 1 || o.rate <= 0 {
		fmt.Fprintln(os.Stderr, "load: -urls, a positive -c and a positive -rate are required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	s := run(ctx, o)
	fmt.Println(s.line())
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, s); err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			os.Exit(2)
		}
	}
}

// line is the summary as space-separated key=value pairs.
func (s Summary) line() string {
	versions := make([]string, 0, len(s.Versions))
	for v, n := range s.Versions {
		versions = append(versions, fmt.Sprintf("%s:%d", v, n))
	}
	sort.Strings(versions)
	return fmt.Sprintf("requests=%d failures=%d seconds=%.1f rps=%.0f p50_ms=%.1f p99_ms=%.1f max_ms=%.1f versions=%s",
		s.Requests, s.Failures, s.Seconds, float64(s.Requests)/max(s.Seconds, 0.001),
		s.LatencyMs["p50"], s.LatencyMs["p99"], s.LatencyMs["max"], strings.Join(versions, ","))
}

func writeJSON(path string, s Summary) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

// tally collects results from every client.
type tally struct {
	mu        sync.Mutex
	s         Summary
	latencies []time.Duration
}

func (t *tally) add(status string, failed bool, version string, sample string, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.s.Requests++
	t.s.ByStatus[status]++
	if failed {
		t.s.Failures++
		if len(t.s.Samples) < 10 {
			t.s.Samples = append(t.s.Samples, sample)
		}
		return
	}
	t.latencies = append(t.latencies, d)
	if version != "" {
		t.s.Versions[version]++
	}
}

func run(ctx context.Context, o options) Summary {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	transport := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return dialer.DialContext(ctx, network, net.JoinHostPort(o.connect, port))
		},
		MaxIdleConnsPerHost: o.concurrency,
		IdleConnTimeout:     90 * time.Second,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: o.timeout}

	t := &tally{s: Summary{ByStatus: map[string]int64{}, Versions: map[string]int64{}}}
	interval := time.Duration(float64(time.Second) * float64(o.concurrency) / o.rate)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range o.concurrency {
		wg.Go(func() {
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for i := w; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				one(client, o.urls[i%len(o.urls)], t)
			}
		})
	}
	wg.Wait()
	t.s.Seconds = time.Since(start).Seconds()
	t.s.LatencyMs = percentiles(t.latencies)
	return t.s
}

// one sends a request that is never cancelled by the end of the run: a
// request in flight when the run stops still counts, as it should.
func one(client *http.Client, url string, t *tally) {
	begin := time.Now()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.add("error", true, "", err.Error(), 0)
		return
	}
	resp, err := client.Do(req)
	if err != nil {
		t.add("error", true, "", fmt.Sprintf("%s %s: %v", begin.Format(time.TimeOnly), url, err), 0)
		return
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	d := time.Since(begin)
	status := fmt.Sprint(resp.StatusCode)
	switch {
	case err != nil:
		t.add(status, true, "", fmt.Sprintf("%s %s: reading body: %v", begin.Format(time.TimeOnly), url, err), 0)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		t.add(status, true, "", fmt.Sprintf("%s %s: HTTP %d: %.120q", begin.Format(time.TimeOnly), url, resp.StatusCode, body), 0)
	default:
		var v struct {
			Version string `json:"version"`
		}
		if strings.HasSuffix(url, "/api/version") {
			_ = json.Unmarshal(body, &v)
		}
		t.add(status, false, v.Version, "", d)
	}
}

func percentiles(ds []time.Duration) map[string]float64 {
	out := map[string]float64{}
	if len(ds) == 0 {
		return out
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	for _, p := range []struct {
		name string
		q    float64
	}{{"p50", 0.50}, {"p99", 0.99}, {"max", 1}} {
		i := int(p.q * float64(len(ds)-1))
		out[p.name] = float64(ds[i].Microseconds()) / 1000
	}
	return out
}
