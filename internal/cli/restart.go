package cli

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
)

func newRestartCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "restart INSTANCE [SERVICE]",
		Short: "Restart an instance's replicas, or one service's",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			service := ""
			if len(args) == 2 {
				service = args[1]
			}
			c, err := g.client(ctx)
			if err != nil {
				return withCode(ExitError, err)
			}
			defer c.Close()
			_, err = g.runOperation(func(emit client.Emitter) (client.Event, error) {
				return c.Restart(ctx, args[0], service, emit)
			})
			return err
		},
	}
}
