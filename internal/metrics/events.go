package metrics

import (
	"sort"
	"time"

	"github.com/quai-dev/quai/internal/wire"
)

// deployBounds are the upper bounds, in seconds, of the deploy duration
// histogram.
var deployBounds = []float64{1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// deployStats follows operations in the engine's event stream. An
// operation starts with an instance's first event after its previous
// terminal one; it is a deploy when it planned (an EventPlan), which up,
// rollback and promote do and backups, restarts and removals do not.
type deployStats struct {
	open map[string]*openOp
	// per instance
	total   map[string]*deployCounts
	pending []finishedDeploy // not yet in the history
}

type openOp struct {
	start   time.Time
	planned bool
}

type deployCounts struct {
	done, failed uint64
	buckets      []uint64 // per deployBounds, then +Inf
	sum          float64
	last         finishedDeploy
}

type finishedDeploy struct {
	instance string
	at       time.Time
	dur      time.Duration
	ok       bool
}

func newDeployStats() deployStats {
	return deployStats{open: map[string]*openOp{}, total: map[string]*deployCounts{}}
}

// Observe takes one engine event; the daemon passes it every event of
// every operation (engine.Options.Events). It never blocks for long.
func (c *Collector) Observe(ev wire.Event) {
	if ev.Instance == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d := &c.deploys
	op := d.open[ev.Instance]
	if op == nil {
		if ev.Kind.Terminal() {
			return
		}
		op = &openOp{start: ev.Time}
		d.open[ev.Instance] = op
	}
	if ev.Kind == wire.EventPlan {
		op.planned = true
	}
	if !ev.Kind.Terminal() {
		return
	}
	delete(d.open, ev.Instance)
	if !op.planned {
		return
	}
	f := finishedDeploy{instance: ev.Instance, at: ev.Time, dur: ev.Time.Sub(op.start), ok: ev.Kind == wire.EventDone}
	dc := d.total[ev.Instance]
	if dc == nil {
		dc = &deployCounts{buckets: make([]uint64, len(deployBounds)+1)}
		d.total[ev.Instance] = dc
	}
	if f.ok {
		dc.done++
	} else {
		dc.failed++
	}
	secs := f.dur.Seconds()
	i := sort.SearchFloat64s(deployBounds, secs)
	dc.buckets[i]++
	dc.sum += secs
	dc.last = f
	d.pending = append(d.pending, f)
}

// samples drains the deploys finished since the last tick into history
// samples. c.mu is held.
func (d *deployStats) samples(labels func(instance, service string) Labels) []Sample {
	var out []Sample
	for _, f := range d.pending {
		ls := labels(f.instance, "")
		failed := 0.0
		if !f.ok {
			failed = 1
		}
		out = append(out,
			Sample{Name: MDeploys, Labels: ls, Value: 1, Delta: true},
			Sample{Name: MDeployFailed, Labels: ls, Value: failed, Delta: true},
			Sample{Name: MDeploySecs, Labels: ls, Value: f.dur.Seconds()},
		)
	}
	d.pending = d.pending[:0]
	return out
}
