package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

func newDashboardCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "dashboard",
		Short: "Print a one-time login link to the web dashboard",
		Long: `dashboard asks the local daemon for a one-time link to its web dashboard on
the loopback listener (quai serve --dashboard, 127.0.0.1:7480 by default)
and prints it. The link opens a session as the host's administrator, works
once and expires after two minutes; only root on the host (who reaches the
daemon's socket) can ask for one. From another machine, forward the port
(ssh -L 7480:127.0.0.1:7480 host) or use the dashboard on the TLS listener
(quai serve --listen) and log in with a user and password or a token.`,
		Example: `  quai dashboard
  quai dashboard --json | jq -r .url`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return show(ctx, g, func(c *client.Client) (wire.DashboardLink, error) {
				return c.DashboardLink(ctx)
			}, func(l wire.DashboardLink) error {
				_, err := fmt.Fprintf(g.stdout, "%s\n\nOpen it in a browser on this machine within %s; it works once.\n",
					l.URL, time.Until(l.Expires).Round(time.Second))
				return err
			})
		},
	}
}
