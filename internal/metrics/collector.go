package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/quai-dev/quai/internal/proxy"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/wire"
)

// DefaultInterval is how often the Collector samples.
const DefaultInterval = 10 * time.Second

// ringLen is how many samples of request figures are kept in memory per
// service: 15 minutes at the default interval, enough for the alert rules'
// 5-minute windows and `quai top`; longer windows read the history.
const ringLen = 90

// ProxySource is what the collector reads of the proxy; *proxy.Proxy
// implements it.
type ProxySource interface {
	Stats() []proxy.RouteStats
	OpenConns() int
	Unrouted() uint64
	Certificates() []proxy.CertStatus
}

// Instance is one instance as the collector polls it.
type Instance struct {
	Name              string
	Org, Project, Env string
	Runtime           string
	State             string
	Services          []Service
	// Release is the active release number.
	Release int
}

// Service is one service of an Instance.
type Service struct {
	Name     string
	Desired  int
	Routed   bool
	Replicas []Replica
	// MetricsPath is the path of the service's x-quai.metrics, scraped at
	// each replica's address (never at another port: on the process and
	// Docker runtimes that would be a port of the host); empty means it
	// declares none.
	MetricsPath string
}

// Replica is one replica of a Service.
type Replica struct {
	Name    string
	Address string
	Status  runtime.Status
}

// Backup is the last backup figures of one service.
type Backup struct {
	Instance, Service string
	// LastSuccess is when the last successful backup finished; zero if none.
	LastSuccess time.Time
	// LastOK is whether the newest finished run succeeded.
	LastOK       bool
	LastRun      time.Time
	LastBytes    int64
	LastDuration time.Duration
}

// Drill is the last restore drill of an instance.
type Drill struct {
	Instance string
	Time     time.Time
	OK       bool
}

// Options configure a Collector.
type Options struct {
	// Proxy is read for request figures, connections and certificates;
	// nil: none.
	Proxy ProxySource
	// Instances lists every instance with its replicas' status; it is
	// called once per Interval.
	Instances func(ctx context.Context) ([]Instance, error)
	// Backups returns the last backup of every service and drill of every
	// instance; it is called once a minute. Nil: none.
	Backups func(ctx context.Context) ([]Backup, []Drill, error)
	// History keeps the samples; nil keeps none (the Prometheus listener,
	// `quai top` and the alert rules' short windows still work).
	History *History
	// Interval between samples; default DefaultInterval.
	Interval time.Duration
	// DiskPaths are the file systems DiskUsage and the host metrics
	// report (the data directory, the volumes directory).
	DiskPaths []string
	// HTTPClient scrapes apps' Prometheus endpoints; default a client
	// with a 3 s timeout.
	HTTPClient *http.Client
	Now        func() time.Time
	Logger     *slog.Logger
}

// Collector samples metrics and serves them; see the package doc. Its
// methods are safe for concurrent use.
type Collector struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time
	hist *History

	stop chan struct{}
	done chan struct{}

	mu sync.Mutex
	// last is the newest sample of everything but the proxy's counters,
	// which are read live.
	last      snapshot
	prevRoute map[routeKey]proxy.RouteStats
	prevTick  time.Time
	restarts  map[replicaKey]int
	rings     map[svcKey]*ring
	deploys   deployStats
	prevHost  hostCPU
	lastRoll  time.Time
	lastBack  time.Time
	appPrev   map[string]float64
	ticks     int
}

// snapshot is what the last tick saw.
type snapshot struct {
	at        time.Time
	instances []Instance
	byName    map[string]*Instance
	host      HostStats
	backups   []Backup
	drills    []Drill
	app       []appSample
	// rates per service over the last minute, for Top.
}

type routeKey struct{ instance, host, path string }
type replicaKey struct{ instance, service, replica string }
type svcKey struct{ instance, service string }

// New returns a Collector; Start runs it.
func New(o Options) *Collector {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 3 * time.Second}
	}
	return &Collector{
		opts: o, log: o.Logger, now: o.Now, hist: o.History,
		prevRoute: make(map[routeKey]proxy.RouteStats),
		restarts:  make(map[replicaKey]int),
		rings:     make(map[svcKey]*ring),
		appPrev:   make(map[string]float64),
		deploys:   newDeployStats(),
		last:      snapshot{byName: map[string]*Instance{}},
	}
}

// Start samples once, then every Interval until Stop.
func (c *Collector) Start() {
	stop, done := make(chan struct{}), make(chan struct{})
	c.stop, c.done = stop, done
	// The loop gets its channels, not the fields: Stop clears c.stop while
	// the loop's watcher may still be selecting on it.
	go c.loop(stop, done)
}

// Stop ends the sampling and waits for a tick in progress.
func (c *Collector) Stop() {
	if c.stop == nil {
		return
	}
	close(c.stop)
	<-c.done
	c.stop = nil
}

func (c *Collector) loop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	c.Tick(ctx)
	for {
		// Ticks land on multiples of the interval, as the history's rows do.
		now := time.Now()
		wait := now.Truncate(c.opts.Interval).Add(c.opts.Interval).Sub(now)
		t := time.NewTimer(wait)
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
		c.Tick(ctx)
	}
}

// Tick takes one sample now: it polls every source, stores the samples in
// the history and rolls the history up once a minute. Start calls it on
// its schedule; tests call it directly.
func (c *Collector) Tick(ctx context.Context) {
	now := c.now()
	var routes []proxy.RouteStats
	if c.opts.Proxy != nil {
		routes = c.opts.Proxy.Stats()
	}
	var instances []Instance
	if c.opts.Instances != nil {
		ictx, cancel := context.WithTimeout(ctx, c.opts.Interval)
		var err error
		instances, err = c.opts.Instances(ictx)
		cancel()
		if err != nil {
			c.log.Warn("metrics: listing instances", "err", err)
		}
	}
	host := c.hostStats()
	var backups []Backup
	var drills []Drill
	refreshBackups := c.opts.Backups != nil && now.Sub(c.lastBack) >= time.Minute
	if refreshBackups {
		var err error
		backups, drills, err = c.opts.Backups(ctx)
		if err != nil {
			c.log.Warn("metrics: reading backups", "err", err)
			refreshBackups = false
		}
	}
	app := c.scrapeApps(ctx, instances)

	c.mu.Lock()
	samples := c.absorb(now, routes, instances, host, app)
	if refreshBackups {
		c.last.backups, c.last.drills, c.lastBack = backups, drills, now
	}
	samples = append(samples, c.deploys.samples(c.labelsOf)...)
	c.ticks++
	roll := c.hist != nil && now.Sub(c.lastRoll) >= time.Minute
	if roll {
		c.lastRoll = now
	}
	c.mu.Unlock()

	if c.hist != nil {
		if err := c.hist.Append(ctx, now, samples); err != nil {
			c.log.Warn("metrics: writing history", "err", err)
		}
		if roll {
			if err := c.hist.Rollup(ctx, now); err != nil {
				c.log.Warn("metrics: rolling up history", "err", err)
			}
		}
	}
}

// absorb folds one tick's readings into the collector's state and returns
// the history samples. c.mu is held.
func (c *Collector) absorb(now time.Time, routes []proxy.RouteStats, instances []Instance, host HostStats, app []appSample) []Sample {
	var samples []Sample
	byName := make(map[string]*Instance, len(instances))
	for i := range instances {
		byName[instances[i].Name] = &instances[i]
	}
	c.last.at, c.last.instances, c.last.byName, c.last.host, c.last.app = now, instances, byName, host, app

	// Requests: the increase of each route's counters since the last tick,
	// summed per service.
	type acc struct {
		tick
		bytesOut uint64
	}
	perSvc := map[svcKey]*acc{}
	seen := make(map[routeKey]bool, len(routes))
	first := c.prevTick.IsZero()
	for _, r := range routes {
		k := routeKey{r.Instance, r.Host, r.Path}
		seen[k] = true
		prev, had := c.prevRoute[k]
		c.prevRoute[k] = r
		if first {
			continue
		}
		if !had {
			prev = proxy.RouteStats{}
		}
		sk := svcKey{r.Instance, r.Service}
		a := perSvc[sk]
		if a == nil {
			a = &acc{}
			perSvc[sk] = a
		}
		for i := range r.Responses {
			d := sub(r.Responses[i], prev.Responses[i])
			a.requests += d
			switch i {
			case 4:
				a.e4 += d
			case 5:
				a.e5 += d
			}
		}
		for i := range r.Latency {
			a.buckets[i] += sub(r.Latency[i], prev.Latency[i])
		}
		a.bytesOut += sub(r.BytesOut, prev.BytesOut)
	}
	for k := range c.prevRoute {
		if !seen[k] {
			delete(c.prevRoute, k)
		}
	}
	dur := now.Sub(c.prevTick)
	c.prevTick = now
	if !first {
		for sk, a := range perSvc {
			rg := c.rings[sk]
			if rg == nil {
				rg = &ring{}
				c.rings[sk] = rg
			}
			a.t, a.dur = now, dur
			rg.push(a.tick)
			ls := c.labelsOf(sk.instance, sk.service)
			samples = append(samples,
				Sample{Name: MRequests, Labels: ls, Value: float64(a.requests), Delta: true},
				Sample{Name: MResponses4xx, Labels: ls, Value: float64(a.e4), Delta: true},
				Sample{Name: MResponses5xx, Labels: ls, Value: float64(a.e5), Delta: true},
				Sample{Name: MBytesOut, Labels: ls, Value: float64(a.bytesOut), Delta: true},
			)
			if a.requests > 0 {
				samples = append(samples, Sample{Name: MLatencyP95, Labels: ls, Value: quantile(0.95, a.buckets[:]).Seconds()})
			}
		}
	}
	// Services whose routes went away keep their ring until it ages out.
	for sk, rg := range c.rings {
		if _, ok := byName[sk.instance]; !ok && now.Sub(rg.newest()) > ringLen*c.opts.Interval {
			delete(c.rings, sk)
		}
	}

	// Replicas.
	liveReplicas := map[replicaKey]bool{}
	for _, in := range instances {
		up := 1.0
		for _, s := range in.Services {
			var cpu float64
			var mem int64
			ready := 0
			var restarted int
			for _, r := range s.Replicas {
				rk := replicaKey{in.Name, s.Name, r.Name}
				liveReplicas[rk] = true
				if prev, ok := c.restarts[rk]; ok && r.Status.Restarts > prev {
					restarted += r.Status.Restarts - prev
				}
				c.restarts[rk] = r.Status.Restarts
				cpu += r.Status.CPUPercent
				mem += r.Status.MemoryBytes
				if r.Status.Healthy() {
					ready++
				}
			}
			if s.Desired > 0 && ready == 0 {
				up = 0
			}
			ls := c.labelsFor(&in, s.Name)
			samples = append(samples,
				Sample{Name: MCPU, Labels: ls, Value: cpu},
				Sample{Name: MMemory, Labels: ls, Value: float64(mem)},
				Sample{Name: MReady, Labels: ls, Value: float64(ready)},
				Sample{Name: MRestarts, Labels: ls, Value: float64(restarted), Delta: true},
			)
		}
		if in.State == string(wire.InstanceStopped) {
			up = 0
		}
		samples = append(samples, Sample{Name: MUp, Labels: c.labelsFor(&in, ""), Value: up})
	}
	for rk := range c.restarts {
		if !liveReplicas[rk] {
			delete(c.restarts, rk)
		}
	}

	// Host.
	if host.MemoryTotal > 0 {
		samples = append(samples,
			Sample{Name: MHostCPU, Value: host.CPUPercent},
			Sample{Name: MHostMemory, Value: float64(host.MemoryUsed)},
			Sample{Name: MHostLoad1, Value: host.Load1},
		)
	}
	for _, d := range host.Disks {
		if d.Total > 0 {
			samples = append(samples, Sample{Name: MHostDisk, Labels: L("path", d.Path), Value: float64(d.Used) / float64(d.Total)})
		}
	}

	// Apps.
	samples = append(samples, c.appSamples(app)...)
	return samples
}

func sub(a, b uint64) uint64 {
	if a < b {
		return a // a counter that restarted
	}
	return a - b
}

// labelsOf is the history labels of an instance's service ("" for the
// instance itself). c.mu is held.
func (c *Collector) labelsOf(instance, service string) Labels {
	if in := c.last.byName[instance]; in != nil {
		return c.labelsFor(in, service)
	}
	return L("instance", instance, "service", service)
}

func (c *Collector) labelsFor(in *Instance, service string) Labels {
	return L("org", in.Org, "project", in.Project, "env", in.Env, "instance", in.Name, "service", service)
}

// History series names.
const (
	MRequests     = "requests"      // delta: requests answered
	MResponses4xx = "responses_4xx" // delta
	MResponses5xx = "responses_5xx" // delta
	MBytesOut     = "bytes_out"     // delta: response body bytes
	MLatencyP95   = "latency_p95"   // gauge, seconds
	MCPU          = "cpu_percent"   // gauge: sum over replicas
	MMemory       = "memory_bytes"  // gauge: sum over replicas
	MReady        = "replicas_ready"
	MRestarts     = "restarts" // delta
	MUp           = "up"       // gauge 0/1 per instance
	MDeploys      = "deploys"  // delta
	MDeployFailed = "deploy_failures"
	MDeploySecs   = "deploy_seconds"
	MHostCPU      = "host_cpu_percent"
	MHostMemory   = "host_memory_bytes"
	MHostLoad1    = "host_load1"
	MHostDisk     = "host_disk_used_ratio"
	// AppPrefix starts the history names of scraped app metrics.
	AppPrefix = "app:"
)

// deltaNames are the history series that count events per step.
var deltaNames = map[string]bool{
	MRequests: true, MResponses4xx: true, MResponses5xx: true, MBytesOut: true,
	MRestarts: true, MDeploys: true, MDeployFailed: true,
}

// IsDelta reports whether a history series counts events per step (its
// points are read as rates) rather than sampling a level.
// App counters are stored under names ending in _total, _sum or _count.
func IsDelta(name string) bool {
	if n, ok := strings.CutPrefix(name, AppPrefix); ok {
		return isCounterName(n)
	}
	return deltaNames[name]
}

// tick is one interval's request figures of a service.
type tick struct {
	t        time.Time
	dur      time.Duration
	requests uint64
	e4, e5   uint64
	buckets  [proxy.NumLatencyBuckets]uint64
}

// ring holds the last ringLen ticks.
type ring struct {
	ticks [ringLen]tick
	next  int
	n     int
}

func (r *ring) push(t tick) {
	r.ticks[r.next] = t
	r.next = (r.next + 1) % ringLen
	r.n = min(r.n+1, ringLen)
}

func (r *ring) newest() time.Time {
	if r.n == 0 {
		return time.Time{}
	}
	return r.ticks[(r.next+ringLen-1)%ringLen].t
}

// sum adds the ticks newer than since into acc and returns the time they
// cover.
func (r *ring) sum(since time.Time, acc *tick) time.Duration {
	var covered time.Duration
	for i := 0; i < r.n; i++ {
		t := &r.ticks[(r.next+ringLen-1-i)%ringLen]
		if !t.t.After(since) {
			break
		}
		acc.requests += t.requests
		acc.e4 += t.e4
		acc.e5 += t.e5
		for j := range t.buckets {
			acc.buckets[j] += t.buckets[j]
		}
		covered += t.dur
	}
	return covered
}

// oldest is the start of the time the ring covers.
func (r *ring) oldest() time.Time {
	if r.n == 0 {
		return time.Time{}
	}
	t := r.ticks[(r.next+ringLen-r.n)%ringLen]
	return t.t.Add(-t.dur)
}

// quantile estimates the q-quantile of a latency histogram (counts per
// proxy.LatencyBounds bucket) by linear interpolation within its bucket,
// as Prometheus' histogram_quantile does.
func quantile(q float64, buckets []uint64) time.Duration {
	var total uint64
	for _, n := range buckets {
		total += n
	}
	if total == 0 {
		return 0
	}
	bounds := proxy.LatencyBounds()
	rank := q * float64(total)
	var cum uint64
	for i, n := range buckets {
		if float64(cum+n) >= rank && n > 0 {
			if i >= len(bounds) {
				return bounds[len(bounds)-1]
			}
			lo := time.Duration(0)
			if i > 0 {
				lo = bounds[i-1]
			}
			frac := (rank - float64(cum)) / float64(n)
			return lo + time.Duration(frac*float64(bounds[i]-lo))
		}
		cum += n
	}
	return bounds[len(bounds)-1]
}
