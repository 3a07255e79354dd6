package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
)

type logsOptions struct {
	Follow bool
	Since  string
	Tail   int
	projectFlags
}

func newLogsCmd(g *globals) *cobra.Command {
	var o logsOptions
	cmd := &cobra.Command{
		Use:   "logs [INSTANCE] [SERVICE]",
		Short: "Print an instance's logs, or one service's",
		Long: `logs prints the logs of INSTANCE, or of one of its services.

In a project folder INSTANCE may be left out: the instance is the one the
project deploys for -e/--env and --org, and a single argument naming one of
its services is that service (quai logs web, as docker compose logs web).`,
		Example: `  quai logs shop-prod
  quai logs shop-prod web -f
  quai logs shop-prod db --since 10m -n 100
  quai logs web -f                 # in a project folder: web of its dev instance`,
		Args:              cobra.MaximumNArgs(2),
		ValidArgsFunction: g.completeInstance(true),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, service, err := resolveInstanceService(ctx, "logs", args, o.projectFlags)
			if err != nil {
				return err
			}
			opts := client.LogsOptions{Follow: o.Follow, Tail: o.Tail, Service: service}
			if o.Since != "" {
				t, err := parseSince(o.Since, time.Now())
				if err != nil {
					return &usageError{err}
				}
				opts.Since = t
			}
			if o.Tail < 0 {
				return usageErrorf("--tail %d: the line count cannot be negative", o.Tail)
			}
			c, err := g.client(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			rc, err := c.Logs(ctx, t.Name, opts)
			if err != nil {
				return t.explain(err)
			}
			defer func() { _ = rc.Close() }()
			err = g.copyLogs(rc)
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("logs of %s: %w", t.Name, err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Follow, "follow", "f", false, "keep printing new lines")
	f.StringVar(&o.Since, "since", "", "only lines since a duration ago (10m, 2h) or a time (RFC 3339)")
	f.IntVarP(&o.Tail, "tail", "n", 0, "only the last N lines (0: all)")
	o.flags(cmd)
	return cmd
}

// copyLogs prints the stream as is, or one JSON object per line with --json.
func (g *globals) copyLogs(r io.Reader) error {
	if !g.JSON {
		_, err := io.Copy(g.stdout, r)
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	enc := json.NewEncoder(g.stdout)
	for sc.Scan() {
		if err := enc.Encode(struct {
			Line string `json:"line"`
		}{sc.Text()}); err != nil {
			return err
		}
	}
	return sc.Err()
}

// parseSince accepts a duration before now ("10m", "1h30m") or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("--since %s: the duration cannot be negative", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil && !strings.Contains(s, "T") {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since %q is neither a duration (10m, 2h) nor a time (2025-01-02T15:04:05Z)", s)
}
