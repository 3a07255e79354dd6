// Command metricsbench measures the size of the embedded metrics history:
// it writes a week (by default) of samples for 50 instances through
// internal/metrics' History, as the collector does every 10 s, rolls the
// tiers up and applies retention as the daemon does every minute, and
// prints the file's size.
//
//	go run ./bench/metrics -instances 50 -days 7
//
// Each instance has the shape of the users-api example: a routed web
// service, an api service and a database, one replica each, giving the
// series the collector writes (requests, 4xx, 5xx, bytes out, p95 per
// routed service; CPU, memory, ready replicas, restarts per service; up
// per instance), plus the host's. Zero counts are not stored, as in the
// daemon; traffic is busy all week, 4xx in 10% of samples, 5xx in 2%.
//
// Days before the last are sampled every minute rather than every 10 s
// (-fast, the default): their 10 s rows are deleted by the raw tier's
// one-day retention anyway, and the minute and hour rows they roll up to
// are the same in number, so the file ends the same size in a sixth of the
// time. -fast=false writes every 10 s sample.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/quai-dev/quai/internal/metrics"
)

func main() {
	instances := flag.Int("instances", 50, "instances")
	days := flag.Int("days", 7, "days of history")
	fast := flag.Bool("fast", true, "sample days before the last every minute (see the doc)")
	dir := flag.String("dir", "", "directory of the database (default a temporary one, removed)")
	flag.Parse()
	if err := run(*instances, *days, *fast, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "metricsbench:", err)
		os.Exit(1)
	}
}

func run(instances, days int, fast bool, dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "metricsbench-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(d) }()
		dir = d
	}
	end := time.Now().Truncate(time.Hour)
	start := end.Add(-time.Duration(days) * 24 * time.Hour)
	now := start
	path := filepath.Join(dir, "metrics.db")
	h, err := metrics.OpenHistory(path, metrics.HistoryOptions{Now: func() time.Time { return now }})
	if err != nil {
		return err
	}
	defer func() { _ = h.Close() }()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // G404: synthetic figures, reproducible on purpose
	type svc struct {
		ls     metrics.Labels
		routed bool
	}
	var svcs []svc
	var insts []metrics.Labels
	for i := range instances {
		name := fmt.Sprintf("app%02d-prod", i)
		for _, s := range []string{"web", "api", "db"} {
			svcs = append(svcs, svc{metrics.L("org", "default", "project", fmt.Sprintf("app%02d", i), "env", "prod", "instance", name, "service", s), s == "web"})
		}
		insts = append(insts, metrics.L("org", "default", "project", fmt.Sprintf("app%02d", i), "env", "prod", "instance", name))
	}
	began := time.Now()
	samples := 0
	lastRoll := now
	for now.Before(end) {
		step := 10 * time.Second
		if fast && end.Sub(now) > 24*time.Hour {
			step = time.Minute
		}
		var ss []metrics.Sample
		for _, s := range svcs {
			if s.routed {
				reqs := float64(50 + rng.IntN(200))
				ss = append(ss,
					metrics.Sample{Name: metrics.MRequests, Labels: s.ls, Value: reqs, Delta: true},
					metrics.Sample{Name: metrics.MBytesOut, Labels: s.ls, Value: reqs * 2048, Delta: true},
					metrics.Sample{Name: metrics.MLatencyP95, Labels: s.ls, Value: 0.005 + rng.Float64()*0.05},
				)
				if rng.IntN(10) == 0 {
					ss = append(ss, metrics.Sample{Name: metrics.MResponses4xx, Labels: s.ls, Value: 1, Delta: true})
				}
				if rng.IntN(50) == 0 {
					ss = append(ss, metrics.Sample{Name: metrics.MResponses5xx, Labels: s.ls, Value: 1, Delta: true})
				}
			}
			ss = append(ss,
				metrics.Sample{Name: metrics.MCPU, Labels: s.ls, Value: rng.Float64() * 40},
				metrics.Sample{Name: metrics.MMemory, Labels: s.ls, Value: float64(60<<20 + rng.IntN(8<<20))},
				metrics.Sample{Name: metrics.MReady, Labels: s.ls, Value: 1},
			)
			if rng.IntN(10000) == 0 {
				ss = append(ss, metrics.Sample{Name: metrics.MRestarts, Labels: s.ls, Value: 1, Delta: true})
			}
		}
		for _, ls := range insts {
			ss = append(ss, metrics.Sample{Name: metrics.MUp, Labels: ls, Value: 1})
		}
		ss = append(ss,
			metrics.Sample{Name: metrics.MHostCPU, Value: rng.Float64() * 100},
			metrics.Sample{Name: metrics.MHostMemory, Value: float64(4 << 30)},
			metrics.Sample{Name: metrics.MHostLoad1, Value: rng.Float64() * 2},
			metrics.Sample{Name: metrics.MHostDisk, Labels: metrics.L("path", "/var/lib/quai"), Value: 0.4},
		)
		if err := h.Append(ctx, now, ss); err != nil {
			return err
		}
		samples += len(ss)
		now = now.Add(step)
		if now.Truncate(24*time.Hour) != now.Add(-step).Truncate(24*time.Hour) {
			fmt.Fprintf(os.Stderr, "day %d done after %s, %.1f MiB\n", int(now.Sub(start).Hours()/24), time.Since(began).Round(time.Second), float64(h.Size())/(1<<20))
		}
		if now.Sub(lastRoll) >= time.Minute {
			if err := h.Rollup(ctx, now); err != nil {
				return err
			}
			lastRoll = now
		}
	}
	if err := h.Rollup(ctx, now); err != nil {
		return err
	}
	if err := h.Checkpoint(ctx); err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	fmt.Printf("metrics history: %d instances, %d days, %d series, %d samples written in %s\n",
		instances, days, h.SeriesCount(), samples, time.Since(began).Round(time.Second))
	for _, t := range h.Tiers() {
		fmt.Printf("  tier %-4s step %-6s keep %s\n", t.Name, t.Step, t.Keep)
	}
	fmt.Printf("file size: %.1f MiB (%d bytes), %.2f MiB per instance\n", float64(fi.Size())/(1<<20), fi.Size(), float64(fi.Size())/(1<<20)/float64(instances))
	return nil
}
