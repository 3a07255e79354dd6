package cli

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

func newDownCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "down INSTANCE",
		Short: "Stop an instance's replicas, keeping its releases and data",
		Long: `down stops every replica of the instance and takes its routes off the
proxy. Its releases, volumes and backups stay; quai up or quai rollback
starts it again.`,
		Example: `  quai down shop-prod
  quai --json down shop-dev`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeInstance(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return g.operate(ctx, func(c *client.Client, emit wire.Emitter) (wire.Event, error) {
				return c.Down(ctx, args[0], emit)
			})
		},
	}
}
