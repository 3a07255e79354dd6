package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/quai-dev/quai/internal/alert"
	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/secrets"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// alertsStatePath is the alert state file (channels sealed, alerts,
// silences) in the data directory.
func alertsStatePath(dataDir string) string { return filepath.Join(dataDir, "alerts.json") }

// newAlerts builds the alert evaluator: the daemon's configuration
// (Config.AlertsConfig), the runtimes that report replica exits as they
// happen, the engine's instances (read through d.engine once it exists)
// and the proxy's certificates. Metrics (5xx, latency, disk) come from the
// metrics collector once the daemon has one (Config.AlertMetrics).
func (d *Daemon) newAlerts(key *secrets.Key) (*alert.Evaluator, error) {
	cfg := alert.DefaultConfig()
	if d.cfg.AlertsConfig != "" {
		var err error
		if cfg, err = alert.LoadConfigFile(d.cfg.AlertsConfig); err != nil {
			return nil, err
		}
	}
	watchers := map[string]runtime.ReplicaWatcher{}
	for name, rt := range d.runtimes {
		if w, ok := rt.(runtime.ReplicaWatcher); ok {
			watchers[name] = w
		}
	}
	opts := alert.Options{
		Config:    cfg,
		StatePath: alertsStatePath(d.cfg.DataDir),
		Sealer:    key,
		Instances: &engineInstances{d: d, models: map[string]cachedAlerts{}},
		Watchers:  watchers,
		Metrics:   d.alertMetricSource(),
		Certs:     proxyCerts{d},
		Notifier:  &alert.Notifier{},
		Now:       d.cfg.Now,
		Logger:    d.log.With("component", "alerts"),
		Daemon:    d.id,
	}
	if d.cfg.AlertPollInterval > 0 {
		opts.PollInterval = d.cfg.AlertPollInterval
	}
	ev, err := alert.New(opts)
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	return ev, nil
}

// observe receives every engine event (engine.Options.Events) and hands it
// to the daemon's subscribers; it must not block.
func (d *Daemon) observe(ev engine.Event) {
	d.feed.publish(ev)
	if c := d.collector; c != nil {
		c.Observe(ev)
	}
	if a := d.alerts; a != nil {
		a.Observe(ev)
	}
}

// engineInstances adapts the engine to alert.InstanceSource.
type engineInstances struct {
	d *Daemon

	mu     sync.Mutex
	models map[string]cachedAlerts // x-quai.alerts by instance, for its release
}

type cachedAlerts struct {
	release int
	alerts  *stack.Alerts
}

func (s *engineInstances) Instances(ctx context.Context) ([]alert.InstanceState, error) {
	e := s.d.engine
	if e == nil {
		return nil, nil
	}
	list, err := e.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]alert.InstanceState, 0, len(list))
	for _, in := range list {
		st, err := e.Status(ctx, in.Name)
		if err != nil {
			continue // removed meanwhile
		}
		is := alert.InstanceState{Name: in.Name, Org: in.Identity.OrgOrDefault(), Runtime: in.Runtime,
			Stopped: st.State == wire.InstanceStopped, Busy: st.State == wire.InstanceDeploying, Alerts: s.alertsOf(ctx, e, in.Name, st.Release)}
		for _, svc := range st.Services {
			ss := alert.ServiceState{Name: svc.Service, Desired: svc.Desired, Ready: svc.Ready}
			for _, r := range svc.Replicas {
				ss.Replicas = append(ss.Replicas, alert.ReplicaState{Name: r.Replica, Status: r.Status})
			}
			is.Services = append(is.Services, ss)
		}
		out = append(out, is)
	}
	return out, nil
}

// alertsOf is the x-quai.alerts of the instance's release, read once per
// release.
func (s *engineInstances) alertsOf(ctx context.Context, e *engine.Engine, instance string, release int) *stack.Alerts {
	s.mu.Lock()
	c, ok := s.models[instance]
	s.mu.Unlock()
	if ok && c.release == release {
		return c.alerts
	}
	rels, err := e.Releases(ctx, instance)
	if err != nil {
		return nil
	}
	c = cachedAlerts{release: release}
	for _, r := range rels {
		if r.Number == release && r.Model != nil {
			c.alerts = r.Model.Alerts
		}
	}
	s.mu.Lock()
	s.models[instance] = c
	s.mu.Unlock()
	return c.alerts
}

// proxyCerts adapts the proxy to alert.CertSource.
type proxyCerts struct{ d *Daemon }

func (p proxyCerts) Certificates() []alert.CertInfo {
	px := p.d.proxy
	if px == nil {
		return nil
	}
	var out []alert.CertInfo
	for _, c := range px.Certificates() {
		out = append(out, alert.CertInfo{Host: c.Host, Instance: c.Instance, NotAfter: c.NotAfter, RenewError: c.RenewError})
	}
	return out
}
