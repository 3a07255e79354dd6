package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/wire"
)

type alertsSilenceOptions struct {
	Instance string
	Rule     string
	For      time.Duration
	Comment  string
	Remove   string
}

func newAlertsSilenceCmd(g *globals) *cobra.Command {
	var o alertsSilenceOptions
	cmd := &cobra.Command{
		Use:   "silence INSTANCE [RULE] --for DURATION | --rm ID",
		Short: "Mute an instance's alert notifications (of one rule) for a while",
		Long: `silence mutes the notifications of INSTANCE's alerts, or of RULE only (crash,
restart_loop, unhealthy, instance_down, error_rate, latency, backup_failed,
backup_missed, backup_verify, cert_expiry, cert_renew, disk, deploy_failed),
for --for. Alerts keep being evaluated and listed (marked silenced); one
still active when the silence ends is notified then. The host's own alerts
(disk) are those of the instance "host". --rm ID ends a silence early.`,
		Example: `  quai alerts silence acme/shop/prod --for 2h
  quai alerts silence acme/shop/prod latency --for 30m --comment "load test"
  quai alerts silence --rm s1796119200-1`,
		Args: cobra.RangeArgs(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Remove == "" && len(args) == 0 {
				return usageErrorf("name the instance to silence, e.g. `quai alerts silence acme/shop/prod --for 2h`")
			}
			if o.Remove == "" && o.For <= 0 {
				return usageErrorf("say for how long with --for, e.g. --for 2h")
			}
			if len(args) > 0 {
				o.Instance = args[0]
			}
			if len(args) > 1 {
				o.Rule = args[1]
			}
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			if o.Remove != "" {
				if err := c.Unsilence(cmd.Context(), o.Remove); err != nil {
					return err
				}
				if g.JSON {
					return g.printJSON(map[string]string{"removed": o.Remove})
				}
				fprintf(g.stdout, "silence %s removed\n", o.Remove)
				return nil
			}
			s, err := c.Silence(cmd.Context(), wire.SilenceRequest{Instance: o.Instance, Rule: o.Rule, For: o.For, Comment: o.Comment})
			if err != nil {
				return err
			}
			if g.JSON {
				return g.printJSON(s)
			}
			what := "alerts"
			if s.Rule != "" {
				what = s.Rule + " alerts"
			}
			fprintf(g.stdout, "%s of %s silenced until %s (silence %s; end it early with `quai alerts silence --rm %s`)\n",
				what, s.Instance, s.Until.Local().Format(time.DateTime), s.ID, s.ID)
			return nil
		},
	}
	cmd.Flags().DurationVar(&o.For, "for", 0, "how long the silence lasts, e.g. 2h")
	cmd.Flags().StringVar(&o.Comment, "comment", "", "why, for the others")
	cmd.Flags().StringVar(&o.Remove, "rm", "", "end the silence with this ID")
	return cmd
}
