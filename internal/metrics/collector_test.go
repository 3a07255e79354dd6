package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/quai-dev/quai/internal/proxy"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/wire"
)

// TestCollectorThroughRealProxy sends real requests through a real proxy
// to a real backend, samples them with the collector and reads them back
// from every outlet: Top, RequestStats, the history and the Prometheus
// exposition (parsed with expfmt). The app's own metrics come from a real
// HTTP endpoint in the Prometheus text format.
func TestCollectorThroughRealProxy(t *testing.T) {
	var signups atomic.Int64
	signups.Store(7)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			_, _ = fmt.Fprintf(w, "# TYPE signups_total counter\nsignups_total{plan=\"pro\"} %d\n# TYPE queue_depth gauge\nqueue_depth 3\n", signups.Load())
		case "/fail":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			_, _ = io.WriteString(w, "ok")
		}
	}))
	defer backend.Close()
	px, err := proxy.New(proxy.Config{HTTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := px.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = px.Shutdown(context.Background()) }()
	beAddr := backend.Listener.Addr().String()
	if err := px.SetRoutes("shop-prod", []proxy.Route{{Host: "shop.localhost", Targets: []string{beAddr}, Service: "web"}}); err != nil {
		t.Fatal(err)
	}

	now := time.Now().Truncate(10 * time.Second)
	hist, err := OpenHistory(filepath.Join(t.TempDir(), "metrics.db"), HistoryOptions{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = hist.Close() }()
	restarts := 0
	instances := func(context.Context) ([]Instance, error) {
		return []Instance{{
			Name: "shop-prod", Org: "default", Project: "shop", Env: "prod", State: "running", Release: 3,
			Services: []Service{{
				Name: "web", Desired: 1, Routed: true, MetricsPath: "/metrics",
				Replicas: []Replica{{Name: "web-1", Address: beAddr, Status: runtime.Status{
					State: runtime.StateRunning, Health: runtime.HealthHealthy, Restarts: restarts,
					Started: now.Add(-time.Hour), CPUPercent: 12.5, MemoryBytes: 64 << 20,
				}}},
			}},
		}}, nil
	}
	c := New(Options{Proxy: px, Instances: instances, History: hist, Now: func() time.Time { return now }, DiskPaths: []string{t.TempDir()}})
	ctx := context.Background()
	c.Tick(ctx)

	client := &http.Client{}
	send := func(path string, n int) {
		for range n {
			req, _ := http.NewRequest(http.MethodGet, "http://"+px.HTTPAddr()+path, nil)
			req.Host = "shop.localhost"
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
	}
	send("/", 20)
	send("/fail", 5)
	// The proxy counts a request once its response is written, which the
	// client may read first: wait for the 25 counts (bounded) before sampling.
	for range 500 {
		var n uint64
		for _, st := range px.Stats() {
			for _, c := range st.Responses {
				n += c
			}
		}
		if n == 25 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	restarts = 2
	signups.Store(10)
	c.Observe(wire.Event{Time: now.Add(-30 * time.Second), Kind: wire.EventPlan, Instance: "shop-prod"})
	c.Observe(wire.Event{Time: now.Add(-3 * time.Second), Kind: wire.EventDone, Instance: "shop-prod"})
	now = now.Add(10 * time.Second)
	c.Tick(ctx)

	reqs, e5, p95, ok := c.RequestStats("shop-prod", 5*time.Minute)
	if !ok || reqs != 25 || e5 != 5 || p95 <= 0 {
		t.Errorf("RequestStats = %d, %d, %v, %v; want 25 requests, 5 5xx", reqs, e5, p95, ok)
	}
	if _, _, _, ok := c.RequestStats("other", time.Minute); ok {
		t.Error("RequestStats of an instance without routes says ok")
	}
	if _, ratio, err := c.DiskUsage(); err != nil || ratio <= 0 || ratio > 1 {
		t.Errorf("DiskUsage: %v %v", ratio, err)
	}

	top := c.Top()
	if len(top.Rows) != 1 {
		t.Fatalf("top rows: %+v", top.Rows)
	}
	row := top.Rows[0]
	if row.Errors5xx != 5 || row.RequestsPerSec != 2.5 || row.CPUPercent != 12.5 || row.Restarts != 2 || row.Ready != 1 {
		t.Errorf("top row = %+v", row)
	}

	s, err := c.Series(ctx, "shop-prod", "", time.Hour, 100)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, ser := range s.Series {
		for _, p := range ser.Points {
			if ser.Rate {
				got[ser.Name] += p.V * s.Step.Seconds()
			} else {
				got[ser.Name] = p.V
			}
		}
	}
	for name, want := range map[string]float64{
		MRequests: 25, MResponses5xx: 5, MRestarts: 2, MCPU: 12.5, MDeploys: 1,
		AppPrefix + "signups_total": 3, AppPrefix + "queue_depth": 3,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("history %s = %v (present %v), want %v", name, v, ok, want)
		}
	}

	// The Prometheus exposition, parsed as a scraper would.
	rec := httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("parse exposition: %v\n%s", err, rec.Body.String())
	}
	value := func(name string, labels map[string]string) (float64, bool) {
		f := fams[name]
		for _, m := range f.GetMetric() {
			match := true
			for k, v := range labels {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				match = match && found
			}
			if !match {
				continue
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue(), true
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue(), true
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount()), true
			case dto.MetricType_UNTYPED:
				return m.GetUntyped().GetValue(), true
			}
		}
		return 0, false
	}
	route := map[string]string{"instance": "shop-prod", "project": "shop", "env": "prod", "org": "default", "service": "web", "route": "shop.localhost/"}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"quai_http_requests_total", merge(route, "code", "2xx"), 20},
		{"quai_http_requests_total", merge(route, "code", "5xx"), 5},
		{"quai_http_request_duration_seconds", route, 25},
		{"quai_replica_restarts_total", map[string]string{"replica": "web-1"}, 2},
		{"quai_replica_cpu_percent", map[string]string{"replica": "web-1"}, 12.5},
		{"quai_instance_up", map[string]string{"instance": "shop-prod"}, 1},
		{"quai_deploys_total", map[string]string{"instance": "shop-prod", "result": "done"}, 1},
		{"quai_app_signups_total", map[string]string{"plan": "pro", "service": "web", "replica": "web-1"}, 10},
		{"quai_app_queue_depth", map[string]string{"instance": "shop-prod"}, 3},
	} {
		if v, ok := value(tc.name, tc.labels); !ok || v != tc.want {
			t.Errorf("%s%v = %v (found %v), want %v", tc.name, tc.labels, v, ok, tc.want)
		}
	}
	for _, name := range []string{"quai_host_memory_total_bytes", "quai_proxy_open_connections", "go_goroutines", "quai_metrics_history_series"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("exposition lacks %s", name)
		}
	}
}

func merge(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestDeployEvents(t *testing.T) {
	c := New(Options{})
	t0 := time.Now()
	// A backup (no plan) is not a deploy; an up that failed is.
	c.Observe(wire.Event{Time: t0, Kind: wire.EventStep, Instance: "a", Step: "backup"})
	c.Observe(wire.Event{Time: t0.Add(time.Second), Kind: wire.EventDone, Instance: "a"})
	c.Observe(wire.Event{Time: t0.Add(2 * time.Second), Kind: wire.EventPlan, Instance: "a"})
	c.Observe(wire.Event{Time: t0.Add(9 * time.Second), Kind: wire.EventFailed, Instance: "a"})
	dc := c.deploys.total["a"]
	if dc == nil || dc.done != 0 || dc.failed != 1 || dc.last.dur != 7*time.Second {
		t.Fatalf("deploys = %+v", dc)
	}
}

// TestStartStopRepeatedly stops the sampling while its first tick may still
// run, again and again: under -race this caught the loop's watcher reading
// the stop channel field that Stop clears (seen in the daemon's tests).
func TestStartStopRepeatedly(t *testing.T) {
	c := New(Options{Interval: time.Millisecond, DiskPaths: []string{t.TempDir()}})
	for range 20 {
		c.Start()
		c.Stop()
	}
	c.Stop() // a second Stop is harmless
}
