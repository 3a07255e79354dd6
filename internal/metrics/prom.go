package metrics

import (
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/quai-dev/quai/internal/proxy"
	"github.com/quai-dev/quai/internal/runtime"
)

// Prometheus exposition. Proxy counters are read live at each scrape;
// everything else is the last tick's sample (at most Interval old), so a
// scrape never waits on a runtime. The names are documented in
// docs/observability.md; the Grafana dashboard in docs/ uses only them.

var (
	instLabels  = []string{"org", "project", "env", "instance"}
	svcLabels   = append(append([]string{}, instLabels...), "service")
	routeLabels = append(append([]string{}, svcLabels...), "route")
	replLabels  = append(append([]string{}, svcLabels...), "replica")
)

func desc(name, help string, labels []string, extra ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, append(append([]string{}, labels...), extra...), nil)
}

var (
	dRequests   = desc("quai_http_requests_total", "Requests the proxy answered, by status class.", routeLabels, "code")
	dDuration   = desc("quai_http_request_duration_seconds", "Time from a request's head to the end of its response, upgrades excluded.", routeLabels)
	dBytesOut   = desc("quai_http_response_bytes_total", "Response body bytes sent to clients.", routeLabels)
	dBytesIn    = desc("quai_http_request_bytes_total", "Request body bytes received from clients.", routeLabels)
	dUpErrors   = desc("quai_http_upstream_errors_total", "Attempts that failed to reach a replica (refused, broken before a response).", routeLabels)
	dRetries    = desc("quai_http_retries_total", "Attempts beyond a request's first.", routeLabels)
	dInFlight   = desc("quai_http_in_flight_requests", "Requests and tunnels open to the route's replicas.", routeLabels)
	dTargets    = desc("quai_http_route_targets", "Replicas the route sends traffic to.", routeLabels)
	dOpenConns  = desc("quai_proxy_open_connections", "Client connections open on the proxy's listeners.", nil)
	dUnrouted   = desc("quai_proxy_unrouted_requests_total", "Requests answered 404 because no route matched.", nil)
	dCPU        = desc("quai_replica_cpu_percent", "Replica CPU use, percent of one core.", replLabels)
	dMem        = desc("quai_replica_memory_bytes", "Replica memory use.", replLabels)
	dRestarts   = desc("quai_replica_restarts_total", "Restarts of the replica since it was created.", replLabels)
	dRunning    = desc("quai_replica_up", "1 when the replica runs.", replLabels)
	dHealthy    = desc("quai_replica_healthy", "1 when the replica runs and passes its health check (or has none).", replLabels)
	dHealth     = desc("quai_replica_health", "The replica's health state: 1 for the current one.", replLabels, "state")
	dUptime     = desc("quai_replica_uptime_seconds", "Time since the replica started.", replLabels)
	dDesired    = desc("quai_service_replicas_desired", "Replicas the service should have.", svcLabels)
	dReady      = desc("quai_service_replicas_ready", "Replicas of the service that may receive traffic.", svcLabels)
	dInstUp     = desc("quai_instance_up", "1 when every service with replicas has a ready one.", instLabels)
	dInstState  = desc("quai_instance_state", "The instance's state: 1 for the current one.", instLabels, "state")
	dRelease    = desc("quai_instance_release", "The instance's active release number.", instLabels)
	dDeploys    = desc("quai_deploys_total", "Deploys (up, rollback, promote) that ended, by result.", instLabels, "result")
	dDeployDur  = desc("quai_deploy_duration_seconds", "How long deploys took.", instLabels)
	dDeployLast = desc("quai_deploy_last_timestamp_seconds", "When the last deploy ended.", instLabels, "result")
	dBackupOK   = desc("quai_backup_last_success_timestamp_seconds", "When the service's last successful backup finished.", svcLabels)
	dBackupStat = desc("quai_backup_last_run_success", "1 when the service's newest backup run succeeded.", svcLabels)
	dBackupSize = desc("quai_backup_last_size_bytes", "Size of the service's newest backup snapshot.", svcLabels)
	dBackupDur  = desc("quai_backup_last_duration_seconds", "How long the service's newest backup took.", svcLabels)
	dDrillOK    = desc("quai_drill_last_success", "1 when the instance's newest restore drill passed.", instLabels)
	dDrillTime  = desc("quai_drill_last_timestamp_seconds", "When the instance's newest restore drill ended.", instLabels)
	dCert       = desc("quai_certificate_expiry_timestamp_seconds", "When the certificate served for a host expires.", nil, "host", "source")
	dHostCPU    = desc("quai_host_cpu_percent", "Host CPU busy share since the last sample, percent of all cores.", nil)
	dHostMemU   = desc("quai_host_memory_used_bytes", "Host memory in use (total less available).", nil)
	dHostMemT   = desc("quai_host_memory_total_bytes", "Host memory.", nil)
	dHostLoad   = desc("quai_host_load", "Host load average.", nil, "period")
	dHostDiskU  = desc("quai_host_disk_used_bytes", "Used bytes of the file system holding a quai directory.", nil, "path")
	dHostDiskT  = desc("quai_host_disk_total_bytes", "Size of the file system holding a quai directory.", nil, "path")
	dScrape     = desc("quai_metrics_last_sample_timestamp_seconds", "When the collector last sampled runtimes and the host.", nil)
	dHistSize   = desc("quai_metrics_history_bytes", "Size of the metrics history database.", nil)
	dHistSeries = desc("quai_metrics_history_series", "Series in the metrics history.", nil)
)

// descs are every fixed metric the listener exposes (the dashboard test
// checks docs/grafana-dashboard.json against them).
var descs = []*prometheus.Desc{
	dRequests, dDuration, dBytesOut, dBytesIn, dUpErrors, dRetries, dInFlight, dTargets, dOpenConns, dUnrouted, dCPU, dMem, dRestarts, dRunning, dHealthy, dHealth, dUptime, dDesired, dReady, dInstUp, dInstState, dRelease, dDeploys, dDeployDur, dDeployLast, dBackupOK, dBackupStat, dBackupSize, dBackupDur, dDrillOK, dDrillTime, dCert, dHostCPU, dHostMemU, dHostMemT, dHostLoad, dHostDiskU, dHostDiskT, dScrape, dHistSize, dHistSeries,
}

// promCollector adapts the Collector to client_golang; it is unchecked
// (Describe sends nothing) because app metrics come and go.
type promCollector struct{ c *Collector }

func (promCollector) Describe(chan<- *prometheus.Desc) {}

func (p promCollector) Collect(ch chan<- prometheus.Metric) {
	c := p.c
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	counter := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, lv...)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	inst := func(name string) []string {
		if in := c.last.byName[name]; in != nil {
			return []string{in.Org, in.Project, in.Env, in.Name}
		}
		return []string{"", "", "", name}
	}
	if px := c.opts.Proxy; px != nil {
		bounds := proxy.LatencyBounds()
		for _, r := range px.Stats() {
			lv := append(inst(r.Instance), r.Service, r.Host+r.Path)
			for i, class := range [...]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"} {
				if r.Responses[i] > 0 || (i >= 2 && i != 3) {
					counter(dRequests, float64(r.Responses[i]), append(lv, class)...)
				}
			}
			buckets := make(map[float64]uint64, len(bounds))
			var cum uint64
			for i, b := range bounds {
				cum += r.Latency[i]
				buckets[b.Seconds()] = cum
			}
			cum += r.Latency[len(bounds)]
			ch <- prometheus.MustNewConstHistogram(dDuration, cum, r.LatencySum.Seconds(), buckets, lv...)
			counter(dBytesOut, float64(r.BytesOut), lv...)
			counter(dBytesIn, float64(r.BytesIn), lv...)
			counter(dUpErrors, float64(r.UpstreamErrors), lv...)
			counter(dRetries, float64(r.Retries), lv...)
			gauge(dInFlight, float64(r.InFlight), lv...)
			gauge(dTargets, float64(r.Targets), lv...)
		}
		gauge(dOpenConns, float64(px.OpenConns()))
		counter(dUnrouted, float64(px.Unrouted()))
		for _, ci := range px.Certificates() {
			if ci.NotAfter.IsZero() {
				continue // not obtained yet
			}
			gauge(dCert, float64(ci.NotAfter.Unix()), ci.Host, ci.Source)
		}
	}
	now := c.last.at
	for _, in := range c.last.instances {
		il := []string{in.Org, in.Project, in.Env, in.Name}
		up := 1.0
		for _, s := range in.Services {
			sl := append(append([]string{}, il...), s.Name)
			ready := 0
			for _, r := range s.Replicas {
				rl := append(append([]string{}, sl...), r.Name)
				st := r.Status
				gauge(dCPU, st.CPUPercent, rl...)
				gauge(dMem, float64(st.MemoryBytes), rl...)
				counter(dRestarts, float64(st.Restarts), rl...)
				gauge(dRunning, b2f(st.State == runtime.StateRunning), rl...)
				gauge(dHealthy, b2f(st.Healthy()), rl...)
				health := string(st.Health)
				if health == "" {
					health = string(runtime.HealthNone)
				}
				gauge(dHealth, 1, append(rl, health)...)
				if !st.Started.IsZero() && st.State == runtime.StateRunning {
					gauge(dUptime, now.Sub(st.Started).Seconds(), rl...)
				}
				if st.Healthy() {
					ready++
				}
			}
			if s.Desired > 0 && ready == 0 {
				up = 0
			}
			gauge(dDesired, float64(s.Desired), sl...)
			gauge(dReady, float64(ready), sl...)
		}
		if in.State == "stopped" {
			up = 0
		}
		gauge(dInstUp, up, il...)
		gauge(dInstState, 1, append(il, in.State)...)
		gauge(dRelease, float64(in.Release), il...)
	}
	for name, dc := range c.deploys.total {
		il := inst(name)
		counter(dDeploys, float64(dc.done), append(il, "done")...)
		counter(dDeploys, float64(dc.failed), append(il, "failed")...)
		buckets := make(map[float64]uint64, len(deployBounds))
		var cum uint64
		for i, b := range deployBounds {
			cum += dc.buckets[i]
			buckets[b] = cum
		}
		cum += dc.buckets[len(deployBounds)]
		ch <- prometheus.MustNewConstHistogram(dDeployDur, cum, dc.sum, buckets, il...)
		result := "failed"
		if dc.last.ok {
			result = "done"
		}
		gauge(dDeployLast, float64(dc.last.at.Unix()), append(il, result)...)
	}
	for _, b := range c.last.backups {
		sl := append(inst(b.Instance), b.Service)
		if !b.LastSuccess.IsZero() {
			gauge(dBackupOK, float64(b.LastSuccess.Unix()), sl...)
		}
		if !b.LastRun.IsZero() {
			gauge(dBackupStat, b2f(b.LastOK), sl...)
			gauge(dBackupSize, float64(b.LastBytes), sl...)
			gauge(dBackupDur, b.LastDuration.Seconds(), sl...)
		}
	}
	for _, d := range c.last.drills {
		il := inst(d.Instance)
		gauge(dDrillOK, b2f(d.OK), il...)
		gauge(dDrillTime, float64(d.Time.Unix()), il...)
	}
	h := c.last.host
	if h.MemoryTotal > 0 {
		gauge(dHostCPU, h.CPUPercent)
		gauge(dHostMemU, float64(h.MemoryUsed))
		gauge(dHostMemT, float64(h.MemoryTotal))
		gauge(dHostLoad, h.Load1, "1m")
		gauge(dHostLoad, h.Load5, "5m")
		gauge(dHostLoad, h.Load15, "15m")
	}
	for _, d := range h.Disks {
		gauge(dHostDiskU, float64(d.Used), d.Path)
		gauge(dHostDiskT, float64(d.Total), d.Path)
	}
	if !now.IsZero() {
		gauge(dScrape, float64(now.Unix()))
	}
	if c.hist != nil {
		gauge(dHistSize, float64(c.hist.Size()))
		gauge(dHistSeries, float64(c.hist.SeriesCount()))
	}
	c.collectApps(ch, inst)
}

// collectApps re-exposes the scraped app metrics as quai_app_<name>, with
// quai's labels added (an app label of the same name becomes
// exported_<name>). c.mu is held.
func (c *Collector) collectApps(ch chan<- prometheus.Metric, inst func(string) []string) {
	descs := map[string]*prometheus.Desc{}
	seen := map[string]bool{}
	for _, a := range c.last.app {
		names := []string{"org", "project", "env", "instance", "service", "replica"}
		values := append(inst(a.instance), a.service, a.replica)
		for _, l := range a.labels {
			n := l.Name
			for _, q := range names[:6] {
				if q == n {
					n = "exported_" + n
				}
			}
			names = append(names, n)
			values = append(values, l.Value)
		}
		name := "quai_app_" + sanitize(a.name)
		key := name + "|" + strings.Join(names, ",")
		d := descs[key]
		if d == nil {
			d = prometheus.NewDesc(name, "Scraped from the app's x-quai.metrics endpoint.", names, nil)
			descs[key] = d
		}
		id := key + "|" + strings.Join(values, "\x00")
		if seen[id] {
			continue
		}
		seen[id] = true
		vt := prometheus.UntypedValue
		switch a.typ {
		case dto.MetricType_COUNTER:
			vt = prometheus.CounterValue
		case dto.MetricType_GAUGE:
			vt = prometheus.GaugeValue
		}
		m, err := prometheus.NewConstMetric(d, vt, a.value, values...)
		if err != nil {
			continue
		}
		ch <- m
	}
}

// sanitize keeps a metric name to Prometheus' legacy character set.
func sanitize(n string) string {
	b := []byte(n)
	for i, ch := range b {
		ok := ch == '_' || ch == ':' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' && i > 0
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Handler serves the Prometheus exposition: quai's metrics and the
// daemon's own Go runtime and process figures.
func (c *Collector) Handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(promCollector{c}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, Timeout: 10 * time.Second})
}
