package cli

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
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
			return g.operate(ctx, func(c *client.Client, emit wire.Emitter) (wire.Event, error) {
				return c.Restart(ctx, args[0], service, emit)
			})
		},
	}
}
