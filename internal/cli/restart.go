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
		Long: `restart replaces the replicas of the instance (or of one service) within
its active release, with the same zero-downtime switchover as up: new
replicas start and get healthy before the old ones are drained.`,
		Example: `  quai restart shop-prod
  quai restart shop-prod web`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: g.completeInstance(true),
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
