package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/quai-dev/quai/internal/alert"
	"github.com/quai-dev/quai/internal/api"
	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/metrics"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
	"github.com/quai-dev/quai/internal/wire"
)

// MetricsConfig configures metrics collection (internal/metrics).
type MetricsConfig struct {
	// Addr is the Prometheus listener (`quai serve --metrics`); empty: none.
	Addr string
	// HistoryOff keeps no history (DATA_DIR/metrics.db); `quai metrics`
	// then fails, `quai top` and the Prometheus listener still work.
	HistoryOff bool
	// Retention is how long the coarsest tier of the history keeps its
	// rows; zero means metrics.DefaultRetention.
	Retention time.Duration
	// Interval between samples; zero means metrics.DefaultInterval.
	Interval time.Duration
}

// MetricsHistoryName is the history's file in the data directory.
const MetricsHistoryName = "metrics.db"

// alertMetricSource is what the alert rules read request figures and
// disk usage from: Config.AlertMetrics when a test sets one, else the
// metrics collector, which exists only once the engine does (the alert
// evaluator is built before it).
func (d *Daemon) alertMetricSource() alert.MetricSource {
	if d.cfg.AlertMetrics != nil {
		return d.cfg.AlertMetrics
	}
	return collectorSource{d}
}

// collectorSource reads the daemon's collector when it has one.
type collectorSource struct{ d *Daemon }

func (s collectorSource) RequestStats(instance string, window time.Duration) (int64, int64, time.Duration, bool) {
	if c := s.d.collector; c != nil {
		return c.RequestStats(instance, window)
	}
	return 0, 0, 0, false
}

func (s collectorSource) DiskUsage() (string, float64, error) {
	if c := s.d.collector; c != nil {
		return c.DiskUsage()
	}
	return "", 0, metrics.ErrNoDisk
}

var _ alert.MetricSource = (*metrics.Collector)(nil)

// startMetrics opens the history and starts the collector and, when
// asked, the Prometheus listener. The engine must exist.
func (d *Daemon) startMetrics() error {
	cfg := d.cfg.Metrics
	var hist *metrics.History
	if !cfg.HistoryOff {
		var err error
		hist, err = metrics.OpenHistory(filepath.Join(d.cfg.DataDir, MetricsHistoryName), metrics.HistoryOptions{
			Tiers:  metrics.TiersFor(cfg.Retention),
			Logger: d.log.With("component", "metrics"),
			Now:    d.cfg.Now,
		})
		if err != nil {
			return err
		}
		d.history = hist
	}
	src := &metricSources{engine: d.engine, store: d.store, models: map[string]modelAt{}}
	d.collector = metrics.New(metrics.Options{
		Proxy:     d.proxy,
		Instances: src.instances,
		Backups:   src.backups,
		History:   hist,
		Interval:  cfg.Interval,
		DiskPaths: []string{d.cfg.DataDir, filepath.Join(d.cfg.DataDir, "process")},
		Now:       d.cfg.Now,
		Logger:    d.log.With("component", "metrics"),
	})
	if cfg.Addr != "" {
		ln, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			return fmt.Errorf("metrics listener on %s: %w (choose another address with --metrics)", cfg.Addr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", d.collector.Handler())
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/metrics", http.StatusFound)
		})
		d.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		d.metricsLn = ln
		go func() {
			if err := d.metricsSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.log.Error("metrics listener stopped", "err", err)
			}
		}()
		d.log.Info("prometheus metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	}
	return nil
}

// MetricsAddr is the bound address of the Prometheus listener, empty
// without one.
func (d *Daemon) MetricsAddr() string {
	if d.metricsLn == nil {
		return ""
	}
	return d.metricsLn.Addr().String()
}

// Collector is the daemon's metrics collector (the alert rules' metric
// source); nil before Start.
func (d *Daemon) Collector() *metrics.Collector { return d.collector }

func (d *Daemon) stopMetrics(ctx context.Context) error {
	var errs []error
	if d.metricsSrv != nil {
		if err := d.metricsSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop metrics listener: %w", err))
		}
		d.metricsSrv, d.metricsLn = nil, nil
	}
	if d.collector != nil {
		d.collector.Stop()
	}
	if d.history != nil {
		if err := d.history.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close metrics history: %w", err))
		}
		d.history = nil
	}
	return errors.Join(errs...)
}

// metricsAPI serves the API's metrics routes from the collector.
type metricsAPI struct{ c *metrics.Collector }

func (m metricsAPI) Top() wire.MetricsTop { return m.c.Top() }

func (m metricsAPI) Series(ctx context.Context, instance, service string, since time.Duration, points int) (wire.MetricsSeries, error) {
	s, err := m.c.Series(ctx, instance, service, since, points)
	if errors.Is(err, metrics.ErrHistoryOff) {
		return s, &api.Error{Status: http.StatusConflict, Code: wire.CodeUnsupported, Message: "this daemon keeps no metrics history",
			Hint: "restart it without --no-history; `quai top` shows live figures meanwhile"}
	}
	return s, err
}

// metricSources adapt the engine and the store to the collector.
type metricSources struct {
	engine *engine.Engine
	store  *store.SQLite

	mu     sync.Mutex
	models map[string]modelAt // x-quai.metrics of each instance's release
}

type modelAt struct {
	release int
	metrics map[string]*stack.MetricsEndpoint
}

func (s *metricSources) instances(ctx context.Context) ([]metrics.Instance, error) {
	list, err := s.engine.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]metrics.Instance, 0, len(list))
	seen := map[string]bool{}
	for _, in := range list {
		st, err := s.engine.Status(ctx, in.Name)
		if err != nil {
			continue // removed meanwhile
		}
		seen[in.Name] = true
		ends := s.endpoints(ctx, in.Name, st.Release)
		mi := metrics.Instance{
			Name: in.Name, Org: in.Identity.OrgOrDefault(), Project: in.Identity.Project, Env: in.Identity.Env,
			Runtime: in.Runtime, State: string(st.State), Release: st.Release,
		}
		for _, sv := range st.Services {
			ms := metrics.Service{Name: sv.Service, Desired: sv.Desired}
			if e := ends[sv.Service]; e != nil {
				ms.MetricsPath = e.Path
			}
			for _, r := range sv.Replicas {
				ms.Replicas = append(ms.Replicas, metrics.Replica{Name: r.Replica, Address: r.Address, Status: r.Status})
			}
			mi.Services = append(mi.Services, ms)
		}
		out = append(out, mi)
	}
	s.mu.Lock()
	for name := range s.models {
		if !seen[name] {
			delete(s.models, name)
		}
	}
	s.mu.Unlock()
	return out, nil
}

// endpoints returns the x-quai.metrics of the instance's release, read
// once per release.
func (s *metricSources) endpoints(ctx context.Context, instance string, release int) map[string]*stack.MetricsEndpoint {
	s.mu.Lock()
	m, ok := s.models[instance]
	s.mu.Unlock()
	if ok && m.release == release {
		return m.metrics
	}
	m = modelAt{release: release, metrics: map[string]*stack.MetricsEndpoint{}}
	rels, err := s.engine.Releases(ctx, instance)
	if err != nil {
		return nil
	}
	for _, r := range rels {
		if r.Number == release && r.Model != nil {
			for _, sv := range r.Model.Services {
				// A port other than the one the replica's address reaches
				// would be a port of the host (another instance's, or a
				// host service's), never the replica's: not scraped, and
				// the plan said so (the runtimes' Assess).
				if sv.Metrics != nil && sv.MetricsNotScraped() == "" {
					m.metrics[sv.Name] = sv.Metrics
				}
			}
		}
	}
	s.mu.Lock()
	s.models[instance] = m
	s.mu.Unlock()
	return m.metrics
}

// backups reads the newest backup runs and drills of every instance.
func (s *metricSources) backups(ctx context.Context) ([]metrics.Backup, []metrics.Drill, error) {
	list, err := s.store.Instances(ctx)
	if err != nil {
		return nil, nil, err
	}
	var bs []metrics.Backup
	var ds []metrics.Drill
	for _, in := range list {
		runs, err := s.store.BackupRuns(ctx, in.Name, 50)
		if err != nil {
			return nil, nil, err
		}
		per := map[string]*metrics.Backup{}
		var order []string
		for _, r := range runs { // newest first
			if r.Trigger == wire.TriggerSafety || (r.Status != wire.BackupDone && r.Status != wire.BackupFailed) {
				continue
			}
			b := per[r.Service]
			if b == nil {
				b = &metrics.Backup{Instance: in.Name, Service: r.Service, LastOK: r.Status == wire.BackupDone,
					LastRun: r.Finished, LastBytes: r.Bytes, LastDuration: r.Duration}
				per[r.Service] = b
				order = append(order, r.Service)
			}
			if r.Status == wire.BackupDone && b.LastSuccess.IsZero() {
				b.LastSuccess = r.Finished
			}
		}
		for _, svc := range order {
			bs = append(bs, *per[svc])
		}
		drills, err := s.store.Drills(ctx, in.Name, 1)
		if err != nil {
			return nil, nil, err
		}
		if len(drills) > 0 && drills[0].Status != wire.BackupRunning {
			ds = append(ds, metrics.Drill{Instance: in.Name, Time: drills[0].Finished, OK: drills[0].Status == wire.BackupDone})
		}
	}
	return bs, ds, nil
}
