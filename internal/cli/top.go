package cli

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

type topOptions struct {
	Interval time.Duration
	Count    int
}

func newTopCmd(g *globals) *cobra.Command {
	var o topOptions
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Show live request rates, errors, latency, CPU, memory and restarts of every service",
		Long: `top shows what every service of every instance is doing now, refreshed every
--interval until Ctrl-C: requests per second, 5xx responses and the 95th
percentile latency over the last minute (routed services), and the CPU,
memory and restarts of its replicas, with the host's figures on top. The
daemon samples every 10 s. When stdout is not a terminal, or with --json,
it prints once.`,
		Example: `  quai top
  quai top --interval 5s
  quai top --json | jq '.rows[] | select(.errors_5xx > 0)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if g.JSON || !isTerminal(g.stdout) || o.Count == 1 {
				return show(ctx, g, func(c *client.Client) (wire.MetricsTop, error) { return c.MetricsTop(ctx) },
					func(t wire.MetricsTop) error { g.printTop(t); return nil })
			}
			return g.withClient(ctx, func(c *client.Client) error { return g.liveTop(ctx, c, o) })
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.Interval, "interval", 2*time.Second, "how often the table refreshes")
	f.IntVar(&o.Count, "count", 0, "refresh this many times, then exit (default until Ctrl-C)")
	return cmd
}

// liveTop redraws the table until ctx ends (Ctrl-C ends top normally).
func (g *globals) liveTop(ctx context.Context, c *client.Client, o topOptions) error {
	interval := max(o.Interval, 500*time.Millisecond)
	for n := 0; o.Count <= 0 || n < o.Count; n++ {
		t, err := c.MetricsTop(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		var buf bytes.Buffer
		out := g.stdout
		g.stdout = &buf
		g.printTop(t)
		g.stdout = out
		// Home, draw, clear what the last frame left below.
		fprint(out, "\x1b[H\x1b[2J"+buf.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
	return nil
}

func (g *globals) printTop(t wire.MetricsTop) {
	h := t.Host
	disk := ""
	if h.DiskPath != "" {
		disk = fmt.Sprintf("  disk %.0f%% (%s)", 100*h.DiskUsedRatio, h.DiskPath)
	}
	fprintf(g.stdout, "host  cpu %.0f%%  mem %s/%s  load %.2f%s  at %s\n", h.CPUPercent,
		bytesHuman(int64(h.MemoryUsed)), bytesHuman(int64(h.MemoryTotal)), h.Load1, disk, t.Time.Local().Format("15:04:05"))
	if len(t.Rows) == 0 {
		fprintln(g.stdout, "no instances; install one with: quai up ./myproject --env dev")
		return
	}
	fprintln(g.stdout)
	rows := [][]string{{"INSTANCE", "SERVICE", "READY", "REQ/S", "5XX", "P95", "CPU", "MEM", "RESTARTS"}}
	bad := []bool{false}
	for _, r := range t.Rows {
		reqs, e5, p95 := "-", "-", "-"
		if r.Routed {
			reqs = strconv.FormatFloat(r.RequestsPerSec, 'f', 1, 64)
			e5 = strconv.FormatInt(r.Errors5xx, 10)
			if r.P95Millis > 0 {
				p95 = fmtMillis(r.P95Millis)
			}
		}
		rows = append(rows, []string{
			r.Instance, r.Service, fmt.Sprintf("%d/%d", r.Ready, r.Desired), reqs, e5, p95,
			fmt.Sprintf("%.1f%%", r.CPUPercent), bytesHuman(r.MemoryBytes), strconv.Itoa(r.Restarts),
		})
		bad = append(bad, r.Errors5xx > 0 || r.Ready < r.Desired)
	}
	g.writeRows(rows, bad)
}

// fmtMillis prints a latency in ms, or s from a second on.
func fmtMillis(ms float64) string {
	switch {
	case ms >= 1000:
		return strconv.FormatFloat(ms/1000, 'f', 2, 64) + "s"
	case ms >= 10:
		return strconv.FormatFloat(ms, 'f', 0, 64) + "ms"
	default:
		return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
	}
}
