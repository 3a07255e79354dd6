package alert

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/secrets"
)

// metricsAdapter stands in for the metrics collector (MetricSource).
type metricsAdapter struct {
	reqs, errs int64
	p95        time.Duration
	disk       float64
}

func (m *metricsAdapter) RequestStats(string, time.Duration) (int64, int64, time.Duration, bool) {
	return m.reqs, m.errs, m.p95, m.reqs > 0
}

func (m *metricsAdapter) DiskUsage() (string, float64, error) { return "/var/lib/quai", m.disk, nil }

type instancesAdapter struct{ list []InstanceState }

func (a *instancesAdapter) Instances(context.Context) ([]InstanceState, error) { return a.list, nil }

func activeIDs(e *Evaluator) []string {
	var out []string
	for _, a := range e.List(false).Active {
		out = append(out, a.ID)
	}
	slices.Sort(out)
	return out
}

// TestPollRules drives the poll-based rules with a fake clock: 5xx ratio,
// p95 latency and disk from a metric source, instance down, unhealthy and
// restart counts (a runtime without a ReplicaWatcher) from instance polls.
func TestPollRules(t *testing.T) {
	key, err := secrets.NewKey(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	met := &metricsAdapter{reqs: 1000, errs: 80, p95: 3 * time.Second, disk: 0.95}
	web := ReplicaState{Name: "web-1", Status: runtime.Status{State: runtime.StateRunning, Health: runtime.HealthUnhealthy, Restarts: 1}}
	inst := &instancesAdapter{list: []InstanceState{{Name: "shop", Org: "acme", Runtime: "kubernetes",
		Services: []ServiceState{{Name: "web", Desired: 1, Ready: 0, Replicas: []ReplicaState{web}}}}}}
	e, err := New(Options{StatePath: filepath.Join(t.TempDir(), "alerts.json"), Sealer: key, Instances: inst, Metrics: met, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e.Poll(ctx)
	equal(t, "first poll: metrics fire at once, levels wait their for", activeIDs(e),
		"host/disk//var/lib/quai", "shop/error_rate", "shop/latency")
	c.add(time.Minute)
	inst.list[0].Services[0].Replicas[0].Status.Restarts = 4 // 3 restarts since the last poll
	e.Poll(ctx)
	equal(t, "after 1 minute", activeIDs(e),
		"host/disk//var/lib/quai", "shop/crash/web-1", "shop/error_rate", "shop/instance_down/web", "shop/latency", "shop/restart_loop/web-1")
	c.add(time.Minute)
	e.Poll(ctx)
	if got := len(activeIDs(e)); got != 7 {
		t.Errorf("after 2 minutes: %v, want unhealthy too", activeIDs(e))
	}
	// Everything recovers: the level alerts resolve.
	met.errs, met.p95, met.disk = 1, 100*time.Millisecond, 0.5
	inst.list[0].Services[0].Ready = 1
	inst.list[0].Services[0].Replicas[0].Status.Health = runtime.HealthHealthy
	e.Poll(ctx)
	equal(t, "recovered", activeIDs(e), "shop/crash/web-1", "shop/restart_loop/web-1")
	// Too few requests to judge.
	met.reqs, met.errs = 10, 10
	e.Poll(ctx)
	if len(activeIDs(e)) != 2 {
		t.Errorf("10 requests judged: %v", activeIDs(e))
	}
}
