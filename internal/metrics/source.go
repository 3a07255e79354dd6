package metrics

import (
	"context"
	"errors"
	"time"
)

// RequestStats reports the requests the proxy answered for instance over
// the last window, how many were 5xx, and their 95th percentile latency.
// Windows the in-memory samples cover (15 minutes at the default interval)
// are exact to the latency histogram's buckets; longer ones are read from
// the history, where p95 is the highest of the per-step p95s. ok is false
// when there is no data: the instance has no route, or the window is
// longer than memory and the history is off.
func (c *Collector) RequestStats(instance string, window time.Duration) (requests, errors5xx int64, p95 time.Duration, ok bool) {
	c.mu.Lock()
	now := c.last.at
	var acc tick
	found := false
	covers := true
	for sk, rg := range c.rings {
		if sk.instance != instance {
			continue
		}
		found = true
		if rg.oldest().After(now.Add(-window)) && rg.n == ringLen {
			covers = false
		}
		rg.sum(now.Add(-window), &acc)
	}
	c.mu.Unlock()
	if found && covers {
		return int64(acc.requests), int64(acc.e5), quantile(0.95, acc.buckets[:]), true
	}
	if c.hist == nil {
		if found {
			return int64(acc.requests), int64(acc.e5), quantile(0.95, acc.buckets[:]), true
		}
		return 0, 0, 0, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	series, _, err := c.hist.Query(ctx, Query{
		Names: []string{MRequests, MResponses5xx, MLatencyP95},
		Match: L("instance", instance),
		From:  now.Add(-window), To: now, MaxPoints: 1,
	})
	if err != nil || len(series) == 0 {
		return 0, 0, 0, found
	}
	for _, s := range series {
		for _, p := range s.Points {
			switch s.Name {
			case MRequests:
				requests += int64(p.Sum)
			case MResponses5xx:
				errors5xx += int64(p.Sum)
			case MLatencyP95:
				p95 = max(p95, time.Duration(p.Max*float64(time.Second)))
			}
		}
	}
	return requests, errors5xx, p95, true
}

// ErrNoDisk is returned by DiskUsage when no disk path could be read.
var ErrNoDisk = errors.New("no file system of the data or volumes directory could be read")

// DiskUsage reports the fullest file system among Options.DiskPaths.
func (c *Collector) DiskUsage() (path string, usedRatio float64, err error) {
	disks := diskStats(c.opts.DiskPaths)
	if len(disks) == 0 {
		return "", 0, ErrNoDisk
	}
	for _, d := range disks {
		if r := float64(d.Used) / float64(d.Total); path == "" || r > usedRatio {
			path, usedRatio = d.Path, r
		}
	}
	return path, usedRatio, nil
}
