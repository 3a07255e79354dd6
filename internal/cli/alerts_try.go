package cli

import (
	"time"

	"github.com/spf13/cobra"
)

func newAlertsTestCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "test CHANNEL",
		Short: "Send a test notification through a channel and wait for its receiver",
		Long: `test sends a notification marked as a test (webhooks get X-Quai-Event: test)
through CHANNEL and waits until its receiver accepted it, so that a wrong
URL, token or SMTP setting shows now rather than at the first real alert.`,
		Example: `  quai alerts test ops
  quai alerts test mail --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			res, err := c.TestAlertChannel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if g.JSON {
				return g.printJSON(res)
			}
			fprintf(g.stdout, "test notification delivered through %s in %s\n", res.Channel, res.Duration.Round(time.Millisecond))
			return nil
		},
	}
}
