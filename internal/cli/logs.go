package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

type logsOptions struct {
	Follow     bool
	Since      string
	Until      string
	Tail       int
	Timestamps bool
	Grep       string
	NoPrefix   bool
	NoColor    bool
	// Release reads one release's replicas, a failed one's included.
	Release int
	projectFlags
}

func newLogsCmd(g *globals) *cobra.Command {
	var o logsOptions
	cmd := &cobra.Command{
		Use:   "logs [INSTANCE] [SERVICE...]",
		Short: "Print an instance's logs, or some services', merged in time order",
		Long: `Print the logs of every replica of an instance, or of the named services,
merged in time order across services and replicas, each line prefixed with
its replica (coloured by service on a terminal; NO_COLOR or --no-color turns
colours off). The logs of replicas that were restarted or replaced are kept
(within a size limit per service) and shown with the others.

In a project folder INSTANCE may be left out: the instance is the one the
project deploys for -e/--env and --org, and arguments naming its services are
those services (quai logs web, as docker compose logs web).

--tail applies to each replica; --grep keeps the lines matching a regular
expression (RE2 syntax) before --tail; --since and --until take a duration
before now (10m, 2h) or a time (RFC 3339). With -f, lines keep coming as the
running replicas write them.`,
		Example: `  quai logs shop-prod
  quai logs shop-prod web worker -f
  quai logs shop-prod db --since 10m -n 100 --timestamps
  quai logs shop-prod --since 2h --grep 'panic|Traceback'
  quai logs web -f                 # in a project folder: web of its dev instance
  quai logs shop-prod --release 7  # the replicas of failed release 7`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: g.completeInstance(true),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, services, err := resolveInstanceServices(ctx, "logs", args, o.projectFlags)
			if err != nil {
				return err
			}
			now := time.Now()
			opts := client.LogsOptions{Services: services, Follow: o.Follow, Tail: o.Tail, Timestamps: o.Timestamps, Grep: o.Grep, Release: o.Release}
			if opts.Since, err = parseLogTime("--since", o.Since, now); err != nil {
				return &usageError{err}
			}
			if opts.Until, err = parseLogTime("--until", o.Until, now); err != nil {
				return &usageError{err}
			}
			if !opts.Since.IsZero() && !opts.Until.IsZero() && !opts.Since.Before(opts.Until) {
				return usageErrorf("--since %s is not before --until %s: no line can match", o.Since, o.Until)
			}
			if o.Release < 0 {
				return usageErrorf("--release %d: a release number is 1 or more (see quai releases)", o.Release)
			}
			if o.Tail < 0 {
				return usageErrorf("--tail %d: the line count cannot be negative", o.Tail)
			}
			c, err := g.client(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			lines, err := c.LogLines(ctx, t.Name, opts)
			if err != nil {
				return t.explain(err)
			}
			defer func() { _ = lines.Close() }()
			p := &logPrinter{w: bufio.NewWriter(g.stdout), json: g.JSON, timestamps: o.Timestamps, prefix: !o.NoPrefix,
				color: !o.NoColor && isTerminal(g.stdout) && os.Getenv("NO_COLOR") == ""}
			// Prefixes line up from the first line on the running replicas'
			// names; a longer one (a removed replica's) widens them.
			if st, err := c.Status(ctx, t.Name); err == nil && p.prefix && !p.json {
				for _, svc := range st.Services {
					for _, r := range svc.Replicas {
						if len(services) == 0 || slices.Contains(services, svc.Service) {
							p.width = max(p.width, len(r.Replica))
						}
					}
				}
			}
			err = p.print(lines)
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("logs of %s: %w", t.Name, err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Follow, "follow", "f", false, "keep printing new lines")
	f.StringVar(&o.Since, "since", "", "only lines since a duration ago (10m, 2h) or a time (RFC 3339)")
	f.StringVar(&o.Until, "until", "", "only lines before a duration ago (10m, 2h) or a time (RFC 3339)")
	f.IntVarP(&o.Tail, "tail", "n", 0, "only the last N lines of each replica (0: all)")
	f.BoolVar(&o.Timestamps, "timestamps", false, "show when each line was written")
	f.StringVar(&o.Grep, "grep", "", "only lines matching a regular expression (RE2 syntax)")
	f.BoolVar(&o.NoPrefix, "no-log-prefix", false, "do not prefix lines with their replica")
	f.BoolVar(&o.NoColor, "no-color", false, "no colours (also NO_COLOR)")
	f.IntVar(&o.Release, "release", 0, "only release N's replicas, those a failed release kept included (until the next successful release or prune)")
	o.flags(cmd)
	return cmd
}

// logLineSource yields log lines; io.EOF ends it.
type logLineSource interface {
	Next() (wire.LogLine, error)
}

// logPrinter renders log lines as `docker compose logs` does: a prefix
// padded to the widest replica name seen, coloured by service.
type logPrinter struct {
	w          *bufio.Writer
	json       bool
	timestamps bool
	prefix     bool
	color      bool
	width      int
}

// logTimeLayout is RFC 3339 with a fixed nine-digit fraction, so that the
// lines' text lines up.
const logTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// logColors are the ANSI colours of prefixes, as Compose picks them.
var logColors = [...]string{"36", "33", "32", "35", "34", "31", "96", "93", "92", "95", "94", "91"}

// serviceColor is the same for a service name in every run.
func serviceColor(service string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(service))
	return logColors[h.Sum32()%uint32(len(logColors))]
}

func (p *logPrinter) print(src logLineSource) error {
	enc := json.NewEncoder(p.w)
	lines := make(chan wire.LogLine, 64)
	errc := make(chan error, 1)
	go func() {
		defer close(lines)
		for {
			l, err := src.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					errc <- err
				}
				return
			}
			lines <- l
		}
	}()
	for {
		var l wire.LogLine
		var ok bool
		select {
		case l, ok = <-lines:
		default:
			// Nothing more is ready: show what was written so far.
			if err := p.w.Flush(); err != nil {
				return err
			}
			l, ok = <-lines
		}
		if !ok {
			break
		}
		if p.json {
			if err := enc.Encode(l); err != nil {
				return err
			}
			continue
		}
		p.line(l)
	}
	if err := p.w.Flush(); err != nil {
		return err
	}
	select {
	case err := <-errc:
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	default:
		return nil
	}
}

func (p *logPrinter) line(l wire.LogLine) {
	if p.prefix {
		p.width = max(p.width, len(l.Replica))
		if p.color {
			_, _ = p.w.WriteString("\x1b[" + serviceColor(l.Service) + "m")
		}
		_, _ = p.w.WriteString(l.Replica)
		_, _ = p.w.WriteString(strings.Repeat(" ", p.width-len(l.Replica)))
		_, _ = p.w.WriteString(" | ")
		if p.color {
			_, _ = p.w.WriteString("\x1b[0m")
		}
	}
	if p.timestamps && !l.Time.IsZero() {
		_, _ = p.w.WriteString(l.Time.Local().Format(logTimeLayout))
		_ = p.w.WriteByte(' ')
	}
	_, _ = p.w.WriteString(l.Line)
	_ = p.w.WriteByte('\n')
}

// parseLogTime reads --since or --until: empty (no bound), a duration
// before now ("10m", "1h30m") or an RFC 3339 time.
func parseLogTime(flag, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%s %s: the duration cannot be negative", flag, s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil && !strings.Contains(s, "T") {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%s %q is neither a duration (10m, 2h) nor a time (2025-01-02T15:04:05Z)", flag, s)
}

// resolveInstanceServices is resolveInstanceService for verbs that take
// several services: in a project folder, arguments that all name services
// of the project are those services of its instance; otherwise the first
// argument is the instance and the rest its services.
func resolveInstanceServices(ctx context.Context, verb string, args []string, p projectFlags) (target, []string, error) {
	if len(args) == 0 {
		t, err := resolveInstance(ctx, verb, "", p)
		return t, nil, err
	}
	if pr, ok := currentProject(ctx, p); ok && pr.hasService(args[0]) {
		return target{Name: pr.instance(), project: &pr}, args, nil
	}
	return target{Name: args[0]}, args[1:], nil
}
