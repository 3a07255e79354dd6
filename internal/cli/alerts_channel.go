package cli

import (
	"cmp"
	"time"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/wire"
)

func newAlertsChannelCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{ //nolint:gosec // G101: the example URL holds placeholders, not a credential
		Use:   "channel",
		Short: "Manage notification channels: webhook, Slack, Discord, Telegram, Teams, ntfy, e-mail",
		Long: `channel manages where alert notifications go. A channel is global (every
instance's alerts) or belongs to one organization (--org: its instances'
alerts). Its URL holds tokens: the daemon keeps it sealed with its master key
and shows it masked.`,
		Example: `  quai alerts channel add ops https://hooks.example.com/quai
  quai alerts channel add chat https://hooks.slack.com/services/T0/B0/XXXX --org acme
  quai alerts channel add mail 'smtp://USER:PASSWORD@mail.example.com:587/?from=quai@example.com&to=ops@example.com&auth=Plain'
  quai alerts channel ls
  quai alerts channel rm chat`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newAlertsChannelAddCmd(g), newAlertsChannelLsCmd(g), newAlertsChannelRmCmd(g))
	return cmd
}

type alertsChannelAddOptions struct {
	Org    string
	Kind   string
	Secret string
}

func newAlertsChannelAddCmd(g *globals) *cobra.Command {
	var o alertsChannelAddOptions
	cmd := &cobra.Command{
		Use:   "add NAME URL [--org ORG] [--kind KIND] [--secret SECRET]",
		Short: "Add a notification channel",
		Long: `add adds a channel. The kind follows from the URL: https://hooks.slack.com/...
is Slack, https://discord.com/api/webhooks/... Discord, another http(s) URL a
generic webhook (JSON, signed with HMAC-SHA256 in X-Quai-Signature), and
slack://, discord://, telegram://, teams://, ntfy:// and smtp:// URLs go
through shoutrrr (docs/alerts.md shows each). --kind slack or discord posts
those payloads to any http(s) URL (Mattermost, Rocket.Chat). A webhook
without --secret gets a generated signing secret, printed once.`,
		Example: `  quai alerts channel add ops https://hooks.example.com/quai
  quai alerts channel add mm https://chat.example.com/hooks/xyz --kind slack --org acme
  quai alerts channel add phone ntfy://ntfy.sh/acme-alerts
  quai alerts channel add tg 'telegram://TOKEN@telegram?chats=@acme_ops'`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			out, err := c.AddAlertChannel(cmd.Context(), wire.ChannelRequest{Name: args[0], Org: o.Org, Kind: o.Kind, URL: args[1], Secret: o.Secret})
			if err != nil {
				return err
			}
			if g.JSON {
				return g.printJSON(out)
			}
			fprintf(g.stdout, "channel %s added (%s, %s, %s)\n", out.Channel.Name, out.Channel.Kind, cmp.Or(out.Channel.Org, "global"), out.Channel.URL)
			if out.Secret != "" {
				fprintf(g.stdout, "signing secret (shown once; receivers verify X-Quai-Signature with it): %s\n", out.Secret)
			}
			fprintf(g.stdout, "try it: quai alerts test %s\n", out.Channel.Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Org, "org", "", "only this organization's alerts (default: every instance's)")
	cmd.Flags().StringVar(&o.Kind, "kind", "", "webhook, slack, discord, telegram, teams, ntfy or smtp (default from the URL)")
	cmd.Flags().StringVar(&o.Secret, "secret", "", "a webhook's HMAC signing secret (default a generated one)")
	return cmd
}

func newAlertsChannelLsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List the notification channels, URLs masked",
		Example: `  quai alerts channel ls
  quai alerts channel ls --json | jq -r '.[] | select(.last_error != null) | .name'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			list, err := c.AlertChannels(cmd.Context())
			if err != nil {
				return err
			}
			if g.JSON {
				return g.printJSON(list)
			}
			if len(list) == 0 {
				fprintln(g.stderr, "no channels; add one with `quai alerts channel add NAME URL`")
				return nil
			}
			now := time.Now()
			tw := newTable(g.stdout)
			fprintln(tw, "NAME\tKIND\tORG\tURL\tLAST SENT\tLAST ERROR")
			for _, ch := range list {
				sent := "never"
				if !ch.LastSent.IsZero() {
					sent = ago(ch.LastSent, now)
				}
				fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ch.Name, ch.Kind, cmp.Or(ch.Org, "(global)"), ch.URL, sent, cmp.Or(ch.LastError, "-"))
			}
			return tw.Flush()
		},
	}
}

func newAlertsChannelRmCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME",
		Short:   "Remove a notification channel",
		Example: `  quai alerts channel rm ops`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.RemoveAlertChannel(cmd.Context(), args[0]); err != nil {
				return err
			}
			if g.JSON {
				return g.printJSON(map[string]string{"removed": args[0]})
			}
			fprintf(g.stdout, "channel %s removed\n", args[0])
			return nil
		},
	}
}
