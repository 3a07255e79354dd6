package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

type auditOptions struct {
	Org   string
	User  string
	Since time.Duration
	Limit int
}

func newAuditCmd(g *globals) *cobra.Command {
	var o auditOptions
	cmd := &cobra.Command{
		Use:   "audit [--org ORG] [--user USER] [--since DURATION]",
		Short: "Read the audit log of changes (who, token, from where, what, result, duration)",
		Long: `audit lists the calls that changed something, newest first: deploys,
rollbacks, promotions, restarts, exec sessions, backups, secrets, users,
grants, tokens, hooks and logins, with who made them (and with which token),
from which address, on what, the answer's status and how long it took. An
organization's admins read its entries; on the host's socket, every entry.
The log is append-only: no endpoint edits or deletes it.`,
		Example: `  quai audit
  quai audit --org acme --since 24h
  quai audit --user alice --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			q := client.AuditQuery{Org: o.Org, User: o.User, Limit: o.Limit}
			if o.Since > 0 {
				q.Since = time.Now().Add(-o.Since)
			}
			return show(ctx, g, func(c *client.Client) ([]wire.AuditEntry, error) { return c.Audit(ctx, q) }, g.printAudit)
		},
	}
	cmd.Flags().StringVar(&o.Org, "org", "", "entries of this organization")
	cmd.Flags().StringVar(&o.User, "user", "", "entries of this user")
	cmd.Flags().DurationVar(&o.Since, "since", 0, "entries of the last DURATION (e.g. 24h)")
	cmd.Flags().IntVar(&o.Limit, "limit", 200, "at most this many entries (0: all)")
	return cmd
}

func (g *globals) printAudit(list []wire.AuditEntry) error {
	if len(list) == 0 {
		fprintln(g.stdout, "no audit entries")
		return nil
	}
	tw := newTable(g.stdout)
	fprintln(tw, "TIME\tUSER\tTOKEN\tFROM\tACTION\tTARGET\tSTATUS\tRESULT\tDURATION")
	for _, e := range list {
		fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05"), e.User, dash(e.Token),
			dash(e.Source), e.Action, dash(e.Target), e.Status, dash(e.Result), e.Duration.Round(time.Millisecond))
	}
	return tw.Flush()
}
