package metrics

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/quai-dev/quai/internal/wire"
)

// topWindow is the time `quai top`'s rates cover.
const topWindow = time.Minute

// Top returns the live figures of every service of every instance.
func (c *Collector) Top() wire.MetricsTop {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.last.at
	out := wire.MetricsTop{Time: now, Window: topWindow, History: c.hist != nil}
	for _, in := range c.last.instances {
		for _, s := range in.Services {
			row := wire.TopRow{Instance: in.Name, Service: s.Name, State: in.State, Desired: s.Desired, Routed: s.Routed}
			for _, r := range s.Replicas {
				row.CPUPercent += r.Status.CPUPercent
				row.MemoryBytes += r.Status.MemoryBytes
				row.Restarts += r.Status.Restarts
				if r.Status.Healthy() {
					row.Ready++
				}
			}
			if rg := c.rings[svcKey{in.Name, s.Name}]; rg != nil {
				row.Routed = true
				var acc tick
				if covered := rg.sum(now.Add(-topWindow), &acc); covered > 0 {
					row.RequestsPerSec = float64(acc.requests) / covered.Seconds()
				}
				row.Errors5xx = int64(acc.e5)
				row.P95Millis = float64(quantile(0.95, acc.buckets[:])) / float64(time.Millisecond)
			}
			out.Rows = append(out.Rows, row)
		}
	}
	sort.Slice(out.Rows, func(i, j int) bool {
		a, b := out.Rows[i], out.Rows[j]
		if a.Instance != b.Instance {
			return a.Instance < b.Instance
		}
		return a.Service < b.Service
	})
	h := c.last.host
	out.Host = wire.HostMetrics{CPUPercent: h.CPUPercent, MemoryUsed: h.MemoryUsed, MemoryTotal: h.MemoryTotal, Load1: h.Load1}
	for _, d := range h.Disks {
		if r := float64(d.Used) / float64(d.Total); out.Host.DiskPath == "" || r > out.Host.DiskUsedRatio {
			out.Host.DiskPath, out.Host.DiskUsedRatio = d.Path, r
		}
	}
	return out
}

// units of the history's series.
var units = map[string]string{
	MRequests: "req/s", MResponses4xx: "req/s", MResponses5xx: "req/s", MBytesOut: "B/s",
	MLatencyP95: "s", MCPU: "%", MMemory: "B", MRestarts: "/s", MDeploySecs: "s",
	MHostCPU: "%", MHostMemory: "B", MHostDisk: "ratio",
}

// Series reads the history of an instance (or one of its services) from
// since ago to now, in at most points steps per series.
func (c *Collector) Series(ctx context.Context, instance, service string, since time.Duration, points int) (wire.MetricsSeries, error) {
	if c.hist == nil {
		return wire.MetricsSeries{}, ErrHistoryOff
	}
	to := c.now()
	from := to.Add(-since)
	match := L("instance", instance, "service", service)
	series, step, err := c.hist.Query(ctx, Query{Match: match, From: from, To: to, MaxPoints: points})
	if err != nil {
		return wire.MetricsSeries{}, err
	}
	out := wire.MetricsSeries{Instance: instance, Service: service, From: from, To: to, Step: step}
	rawStep := c.hist.tiers[0].Step.Seconds()
	for _, s := range series {
		ws := wire.Series{Name: s.Name, Unit: units[s.Name], Rate: IsDelta(s.Name), Labels: s.Labels.Map()}
		if ws.Rate && ws.Unit == "" {
			ws.Unit = "/s"
		}
		if strings.HasPrefix(s.Name, AppPrefix) && !ws.Rate {
			ws.Unit = ""
		}
		if ws.Rate {
			// Steps without a row counted nothing.
			byT := make(map[int64]Point, len(s.Points))
			for _, p := range s.Points {
				byT[p.T.Unix()] = p
			}
			st := int64(step / time.Second)
			for t := from.Unix() / st * st; t <= to.Unix(); t += st {
				p, ok := byT[t]
				wp := wire.Point{T: time.Unix(t, 0)}
				if ok {
					wp.V = p.Sum / step.Seconds()
					wp.Min, wp.Max = p.Min/rawStep, p.Max/rawStep
				}
				ws.Points = append(ws.Points, wp)
			}
		} else {
			for _, p := range s.Points {
				v := 0.0
				if p.Count > 0 {
					v = p.Sum / float64(p.Count)
				}
				ws.Points = append(ws.Points, wire.Point{T: p.T, V: v, Min: p.Min, Max: p.Max})
			}
		}
		out.Series = append(out.Series, ws)
	}
	return out, nil
}
