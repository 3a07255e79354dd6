package cli

import (
	"cmp"
	"time"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/wire"
)

type alertsOptions struct {
	History bool
}

func newAlertsCmd(g *globals) *cobra.Command {
	var o alertsOptions
	cmd := &cobra.Command{
		Use:   "alerts [--history]",
		Short: "Show the active alerts; test, silence and route their notifications",
		Long: `alerts lists the alerts that fire now (a replica crashed or restarts in a
loop, an instance is down or unhealthy, 5xx or latency over their threshold,
a backup failed or was missed, a certificate expires, the disk fills up, a
deploy failed) with the silences in force; --history adds the resolved ones,
newest first.

The daemon evaluates the rules (docs/alerts.md: defaults, and how the
daemon's --alerts-config and a stack's x-quai.alerts change them) and sends
each alert once when it fires, again every 4h while it is active, and once
when it resolves, grouped per instance, to the notification channels
(` + "`quai alerts channel add`" + `).`,
		Example: `  quai alerts
  quai alerts --history
  quai alerts --json | jq -r '.active[].id'
  quai alerts channel add ops https://hooks.example.com/quai
  quai alerts test ops
  quai alerts silence acme/shop/prod --for 2h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			list, err := c.Alerts(cmd.Context(), o.History)
			if err != nil {
				return err
			}
			if g.JSON {
				return g.printJSON(list)
			}
			return g.printAlerts(list, o.History)
		},
	}
	cmd.Flags().BoolVar(&o.History, "history", false, "also list the resolved alerts, newest first")
	cmd.AddCommand(newAlertsTestCmd(g), newAlertsSilenceCmd(g), newAlertsChannelCmd(g))
	return cmd
}

func (g *globals) printAlerts(list wire.AlertList, history bool) error {
	now := time.Now()
	if len(list.Active) == 0 {
		fprintln(g.stdout, "no active alerts")
	} else {
		tw := newTable(g.stdout)
		fprintln(tw, "INSTANCE\tRULE\tSUBJECT\tSEVERITY\tSINCE\tNOTIFIED\tSUMMARY")
		for _, a := range list.Active {
			notified := "never"
			switch {
			case a.Silenced:
				notified = "silenced"
			case !a.Notified.IsZero():
				notified = ago(a.Notified, now)
			}
			fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Instance, a.Rule, cmp.Or(a.Subject, "-"), a.Severity, ago(a.Started, now), notified, a.Summary)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(list.Silences) > 0 {
		fprintln(g.stdout)
		tw := newTable(g.stdout)
		fprintln(tw, "SILENCE\tINSTANCE\tRULE\tUNTIL\tCOMMENT")
		for _, s := range list.Silences {
			fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, s.Instance, cmp.Or(s.Rule, "(all)"), s.Until.Local().Format(time.DateTime), s.Comment)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if history {
		fprintln(g.stdout)
		if len(list.History) == 0 {
			fprintln(g.stdout, "no resolved alerts")
			return nil
		}
		tw := newTable(g.stdout)
		fprintln(tw, "INSTANCE\tRULE\tSUBJECT\tSTARTED\tRESOLVED\tNOTIFICATIONS\tSUMMARY")
		for _, a := range list.History {
			fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", a.Instance, a.Rule, cmp.Or(a.Subject, "-"),
				a.Started.Local().Format(time.DateTime), a.Resolved.Local().Format(time.DateTime), a.Notifications, a.Summary)
		}
		return tw.Flush()
	}
	return nil
}
