package metrics

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Apps that declare x-quai.metrics {port, path} are scraped every tick
// from each replica (its address's host, the declared port or else the
// address's own port, the path), in the Prometheus text format. Counters,
// gauges and untyped values are kept; of histograms and summaries, their
// _sum and _count. A service contributes at most maxAppSeries series, so a
// misbehaving app cannot fill the history.

const (
	maxAppSeries   = 200
	maxScrapeBytes = 4 << 20
	scrapeWorkers  = 4
)

// appSample is one scraped value of one replica.
type appSample struct {
	instance, service, replica string
	name                       string
	counter                    bool
	typ                        dto.MetricType
	labels                     Labels
	value                      float64
}

type scrapeJob struct {
	in      *Instance
	svc     *Service
	replica Replica
}

func (c *Collector) scrapeApps(ctx context.Context, instances []Instance) []appSample {
	var jobs []scrapeJob
	for i := range instances {
		in := &instances[i]
		for j := range in.Services {
			s := &in.Services[j]
			if s.MetricsPath == "" {
				continue
			}
			for _, r := range s.Replicas {
				if r.Address != "" && r.Status.State == "running" {
					jobs = append(jobs, scrapeJob{in, s, r})
				}
			}
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	var mu sync.Mutex
	var out []appSample
	ch := make(chan scrapeJob)
	var wg sync.WaitGroup
	for range min(scrapeWorkers, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				got, err := c.scrape(ctx, j)
				if err != nil {
					c.log.Debug("metrics: scraping app", "instance", j.in.Name, "service", j.svc.Name, "replica", j.replica.Name, "err", err)
					continue
				}
				mu.Lock()
				out = append(out, got...)
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.instance != b.instance {
			return a.instance < b.instance
		}
		if a.service != b.service {
			return a.service < b.service
		}
		if a.replica != b.replica {
			return a.replica < b.replica
		}
		if a.name != b.name {
			return a.name < b.name
		}
		return a.labels.String() < b.labels.String()
	})
	return out
}

// scrapeURL is where a replica's metrics are.
func scrapeURL(s *Service, r Replica) (string, error) {
	host, port, err := net.SplitHostPort(r.Address)
	if err != nil {
		return "", fmt.Errorf("replica address %q: %w", r.Address, err)
	}
	path := s.MetricsPath
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}

func (c *Collector) scrape(ctx context.Context, j scrapeJob) ([]appSample, error) {
	u, err := scrapeURL(j.svc, j.replica)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	// The text format: every Prometheus client library serves it.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(io.LimitReader(resp.Body, maxScrapeBytes))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	names := make([]string, 0, len(fams))
	for n := range fams {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []appSample
	add := func(name string, counter bool, typ dto.MetricType, m *dto.Metric, v float64) {
		if len(out) >= maxAppSeries {
			return
		}
		var kv []string
		for _, lp := range m.GetLabel() {
			kv = append(kv, lp.GetName(), lp.GetValue())
		}
		out = append(out, appSample{
			instance: j.in.Name, service: j.svc.Name, replica: j.replica.Name,
			name: name, counter: counter, typ: typ, labels: L(kv...), value: v,
		})
	}
	for _, n := range names {
		f := fams[n]
		for _, m := range f.GetMetric() {
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				add(n, true, dto.MetricType_COUNTER, m, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				add(n, false, dto.MetricType_GAUGE, m, m.GetGauge().GetValue())
			case dto.MetricType_UNTYPED:
				add(n, false, dto.MetricType_UNTYPED, m, m.GetUntyped().GetValue())
			case dto.MetricType_HISTOGRAM:
				add(n+"_sum", true, dto.MetricType_COUNTER, m, m.GetHistogram().GetSampleSum())
				add(n+"_count", true, dto.MetricType_COUNTER, m, float64(m.GetHistogram().GetSampleCount()))
			case dto.MetricType_SUMMARY:
				add(n+"_sum", true, dto.MetricType_COUNTER, m, m.GetSummary().GetSampleSum())
				add(n+"_count", true, dto.MetricType_COUNTER, m, float64(m.GetSummary().GetSampleCount()))
			}
		}
	}
	return out, nil
}

// appSamples sums each app series over a service's replicas for the
// history: counters as their increase since the last tick, the rest as
// levels. c.mu is held.
func (c *Collector) appSamples(app []appSample) []Sample {
	type agg struct {
		s       Sample
		counter bool
	}
	sums := map[string]*agg{}
	var order []string
	for _, a := range app {
		base := c.labelsOf(a.instance, a.service)
		ls := append(Labels{}, base...)
		for _, l := range a.labels {
			if base.Get(l.Name) != "" {
				l.Name = "exported_" + l.Name
			}
			ls = append(ls, l)
		}
		sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
		name := AppPrefix + a.name
		if a.counter && !isCounterName(a.name) {
			name += "_total"
		}
		k := name + "{" + ls.String() + "}"
		g := sums[k]
		if g == nil {
			g = &agg{s: Sample{Name: name, Labels: ls}, counter: a.counter}
			sums[k] = g
			order = append(order, k)
		}
		g.s.Value += a.value
	}
	var out []Sample
	next := make(map[string]float64, len(sums))
	for _, k := range order {
		g := sums[k]
		if g.counter {
			next[k] = g.s.Value
			prev, ok := c.appPrev[k]
			if !ok {
				continue
			}
			d := g.s.Value - prev
			if d < 0 {
				d = g.s.Value // restarted
			}
			g.s.Value, g.s.Delta = d, true
		}
		out = append(out, g.s)
	}
	c.appPrev = next
	return out
}

// isCounterName reports the name endings of counters' series.
func isCounterName(n string) bool {
	return strings.HasSuffix(n, "_total") || strings.HasSuffix(n, "_sum") || strings.HasSuffix(n, "_count")
}
