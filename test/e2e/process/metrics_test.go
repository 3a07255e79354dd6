package processe2e

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/quai-dev/quai/internal/daemon"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/wire"
	"github.com/quai-dev/quai/test/e2e/e2etest"
)

// TestMetricsOnProcess deploys an app that serves its own Prometheus
// endpoint (x-quai.metrics) on the process runtime, sends requests through
// quai's proxy, and reads them back through `quai metrics --json` (the
// history in metrics.db), `quai top`, and the Prometheus listener (scraped
// and parsed with expfmt, as Prometheus would).
func TestMetricsOnProcess(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{Metrics: daemon.MetricsConfig{Addr: "127.0.0.1:0", Interval: time.Second}})
	dir := daemontest.AppProject(t, daemontest.App{Project: "metricsapp", Metrics: true})
	e2etest.MustQuai(t, d.Socket, "up", dir, "--env", "dev", "-y")
	const instance, host = "metricsapp-dev", "metricsapp.dev.localhost"

	c := &http.Client{Timeout: 10 * time.Second}
	send := func(path string, want int) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "http://"+d.ProxyHTTPAddr()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	for range 30 {
		send("/", http.StatusOK)
	}
	for range 5 {
		send("/?status=500", http.StatusInternalServerError)
	}

	// The history, through the CLI: the rate points times the step add up
	// to the requests sent.
	var series wire.MetricsSeries
	var totals map[string]float64
	deadline := time.Now().Add(45 * time.Second)
	for {
		out := e2etest.MustQuai(t, d.Socket, "metrics", instance, "web", "--since", "10m", "--json")
		series = wire.MetricsSeries{}
		if err := json.Unmarshal([]byte(out), &series); err != nil {
			t.Fatalf("quai metrics --json: %v\n%s", err, out)
		}
		totals = map[string]float64{}
		for _, s := range series.Series {
			for _, p := range s.Points {
				if s.Rate {
					totals[s.Name] += p.V * series.Step.Seconds()
				} else {
					totals[s.Name] = p.V
				}
			}
		}
		if math.Round(totals["requests"]) == 35 && math.Round(totals["responses_5xx"]) == 5 && totals["app:testapp_up"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("history after 45 s: %v", totals)
		}
		time.Sleep(time.Second)
	}
	// The app's own counter is kept as its increase between scrapes.
	for range 10 {
		send("/", http.StatusOK)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		out := e2etest.MustQuai(t, d.Socket, "metrics", instance, "web", "--since", "10m", "--json")
		var s wire.MetricsSeries
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatal(err)
		}
		app := 0.0
		for _, ser := range s.Series {
			if ser.Name == "app:testapp_requests_total" {
				for _, p := range ser.Points {
					app += p.V * s.Step.Seconds()
				}
			}
		}
		if math.Round(app) >= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app's counter never rose in the history: %v", app)
		}
		time.Sleep(time.Second)
	}
	if totals["replicas_ready"] != 1 || totals["memory_bytes"] <= 0 {
		t.Errorf("history of replicas: ready %v, memory %v", totals["replicas_ready"], totals["memory_bytes"])
	}
	chart := e2etest.MustQuai(t, d.Socket, "metrics", instance, "web", "--since", "10m")
	t.Logf("quai metrics %s web --since 10m\n%s", instance, chart)
	for _, want := range []string{"requests", "responses_5xx", "latency_p95", "cpu_percent", "app:testapp_up"} {
		if !strings.Contains(chart, want) {
			t.Errorf("chart lacks %s", want)
		}
	}
	if out, code := e2etest.Quai(t, d.Socket, "metrics", instance, "nosuch"); code != 3 {
		t.Errorf("metrics of an unknown service: exit %d, want 3 (not found)\n%s", code, out)
	}

	top := e2etest.MustQuai(t, d.Socket, "top")
	t.Logf("quai top\n%s", top)
	if !strings.Contains(top, instance) || !strings.Contains(top, "web") || !strings.Contains(top, "1/1") {
		t.Errorf("top lacks the instance's web service, 1/1 ready")
	}
	var tj wire.MetricsTop
	if err := json.Unmarshal([]byte(e2etest.MustQuai(t, d.Socket, "top", "--json")), &tj); err != nil {
		t.Fatal(err)
	}
	if len(tj.Rows) != 1 || tj.Rows[0].Errors5xx > 5 || !tj.History {
		t.Errorf("top --json = %+v, want one row with 5 5xx", tj)
	}

	if n, e5, p95, ok := d.Collector().RequestStats(instance, 5*time.Minute); !ok || n != 45 || e5 != 5 || p95 <= 0 {
		t.Errorf("RequestStats = %d, %d, %v, %v; want 45, 5", n, e5, p95, ok)
	}

	// The Prometheus listener.
	resp, err := c.Get("http://" + d.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatalf("parse the exposition: %v", err)
	}
	for _, tc := range []struct {
		name   string
		labels string
		want   float64
	}{
		{"quai_http_requests_total", `code=2xx,instance=metricsapp-dev,service=web`, 40},
		{"quai_http_requests_total", `code=5xx,instance=metricsapp-dev,service=web`, 5},
		{"quai_replica_up", `instance=metricsapp-dev,service=web`, 1},
		{"quai_instance_up", `env=dev,instance=metricsapp-dev,project=metricsapp`, 1},
		{"quai_deploys_total", `instance=metricsapp-dev,result=done`, 1},
		{"quai_app_testapp_requests_total", `instance=metricsapp-dev,service=web`, 45},
	} {
		if got, ok := promValue(fams[tc.name], tc.labels); !ok || got != tc.want {
			t.Errorf("%s{%s} = %v (found %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
}

// promValue finds the sample of f whose labels include every k=v of want.
func promValue(f *dto.MetricFamily, want string) (float64, bool) {
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		match := true
		for _, kv := range strings.Split(want, ",") {
			k, v, _ := strings.Cut(kv, "=")
			match = match && have[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
		return 0, false
	}
	return 0, false
}
