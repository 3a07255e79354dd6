package cli

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

type metricsOptions struct {
	Since time.Duration
	Width int
}

func newMetricsCmd(g *globals) *cobra.Command {
	var o metricsOptions
	cmd := &cobra.Command{
		Use:   "metrics INSTANCE [SERVICE]",
		Short: "Chart an instance's metrics history in the terminal",
		Long: `metrics draws one sparkline per metric of an instance (or of one of its
services) over the last --since, from the history the daemon keeps in
DATA_DIR/metrics.db: requests, 4xx and 5xx per second, p95 latency, bytes
out, CPU, memory, ready replicas, restarts, deploys, and the metrics the
service's own Prometheus endpoint exposes (x-quai.metrics). Beside each
line: the newest, lowest and highest values. --json prints the points.`,
		Example: `  quai metrics shop-prod
  quai metrics shop-prod web --since 24h
  quai metrics shop-prod web --since 7d --json | jq '.series[] | select(.name == "requests")'`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: g.completeInstance(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			service := ""
			if len(args) == 2 {
				service = args[1]
			}
			width := o.Width
			if width <= 0 {
				width = 60
				if fd, ok := terminalFd(g.stdout); ok {
					if cols, _, err := term.GetSize(fd); err == nil && cols > 60 {
						width = min(cols-50, 240)
					}
				}
			}
			return show(ctx, g, func(c *client.Client) (wire.MetricsSeries, error) {
				return c.MetricsSeries(ctx, args[0], service, o.Since, width)
			}, func(m wire.MetricsSeries) error { g.printMetrics(m, width); return nil })
		},
	}
	f := cmd.Flags()
	f.Var((*sinceValue)(&o.Since), "since", "how far back: a duration such as 30m, 6h, 7d (default 6h)")
	o.Since = 6 * time.Hour
	f.IntVar(&o.Width, "width", 0, "points per chart (default fits the terminal, 60 otherwise)")
	return cmd
}

// sinceValue is a duration flag that also takes days ("7d").
type sinceValue time.Duration

func (s *sinceValue) String() string { return time.Duration(*s).String() }
func (s *sinceValue) Type() string   { return "duration" }
func (s *sinceValue) Set(v string) error {
	if d, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.ParseFloat(d, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not a number of days", v)
		}
		*s = sinceValue(time.Duration(n * float64(24*time.Hour)))
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return fmt.Errorf("%q is not a positive duration such as 30m, 6h or 7d", v)
	}
	*s = sinceValue(d)
	return nil
}

var sparks = []rune("▁▂▃▄▅▆▇█")

// sparkline draws vs scaled between lo and hi; NaN is a gap.
func sparkline(vs []float64, lo, hi float64) string {
	var b strings.Builder
	for _, v := range vs {
		switch {
		case math.IsNaN(v):
			b.WriteRune(' ')
		case hi <= lo:
			if v > 0 {
				b.WriteRune(sparks[len(sparks)/2])
			} else {
				b.WriteRune(sparks[0])
			}
		default:
			i := int(math.Round((v - lo) / (hi - lo) * float64(len(sparks)-1)))
			b.WriteRune(sparks[max(0, min(i, len(sparks)-1))])
		}
	}
	return b.String()
}

func (g *globals) printMetrics(m wire.MetricsSeries, width int) {
	what := m.Instance
	if m.Service != "" {
		what += " " + m.Service
	}
	fprintf(g.stdout, "%s  %s → %s  (%s per point)\n", what, m.From.Local().Format("Jan 02 15:04"), m.To.Local().Format("Jan 02 15:04"), m.Step)
	if len(m.Series) == 0 {
		fprintln(g.stdout, "no samples yet: the daemon samples every 10 s; try again shortly, or a longer --since")
		return
	}
	steps := int(m.To.Sub(m.From)/m.Step) + 1
	steps = max(1, min(steps, width+1))
	start := m.From.Truncate(m.Step)
	series := append([]wire.Series(nil), m.Series...)
	sort.SliceStable(series, func(i, j int) bool { return metricOrder(series[i]) < metricOrder(series[j]) })
	rows := [][]string{{"METRIC", "", "CHART", "NOW", "MIN", "MAX"}}
	for _, s := range series {
		vs := make([]float64, steps)
		for i := range vs {
			vs[i] = math.NaN()
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		last := math.NaN()
		for _, p := range s.Points {
			i := int(p.T.Sub(start) / m.Step)
			if i < 0 || i >= steps {
				continue
			}
			vs[i] = p.V
			lo, hi = math.Min(lo, p.V), math.Max(hi, p.V)
			last = p.V
		}
		if math.IsInf(lo, 0) {
			continue
		}
		// Charts start at zero unless a value is negative.
		rows = append(rows, []string{s.Name, seriesScope(s, m.Service), sparkline(vs, math.Min(lo, 0), hi), fmtValue(last, s.Unit), fmtValue(lo, s.Unit), fmtValue(hi, s.Unit)})
	}
	g.writeRows(rows, nil)
}

// metricOrder puts request figures first, then resources, then the rest.
func metricOrder(s wire.Series) string {
	for i, n := range []string{"requests", "responses_4xx", "responses_5xx", "latency_p95", "bytes_out", "cpu_percent", "memory_bytes", "replicas_ready", "restarts", "up", "deploys", "deploy_failures", "deploy_seconds"} {
		if s.Name == n {
			return fmt.Sprintf("%02d %s", i, s.Labels["service"])
		}
	}
	return "99 " + s.Name + s.Labels["service"]
}

// seriesScope is what tells a series from others of its name: its service
// (when the whole instance is shown) and any app labels.
func seriesScope(s wire.Series, service string) string {
	var parts []string
	if service == "" {
		parts = append(parts, dash(s.Labels["service"]))
	}
	keys := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		switch k {
		case "org", "project", "env", "instance", "service":
		default:
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+"="+s.Labels[k])
	}
	return strings.Join(parts, " ")
}

func fmtValue(v float64, unit string) string {
	if math.IsNaN(v) {
		return "-"
	}
	switch unit {
	case "B":
		if v < 1 {
			return "0B"
		}
		return bytesHuman(int64(v))
	case "B/s":
		if v < 1 {
			return "0B/s"
		}
		return bytesHuman(int64(v)) + "/s"
	case "s":
		return fmtMillis(v * 1000)
	case "%":
		return strconv.FormatFloat(v, 'f', 1, 64) + "%"
	case "ratio":
		return strconv.FormatFloat(100*v, 'f', 0, 64) + "%"
	}
	s := strconv.FormatFloat(v, 'g', 3, 64)
	if unit != "" {
		s += unit
		if unit[0] != '/' {
			s = strconv.FormatFloat(v, 'g', 3, 64) + " " + unit
		}
	}
	return s
}
