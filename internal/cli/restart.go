package cli

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

func newRestartCmd(g *globals) *cobra.Command {
	var p projectFlags
	cmd := &cobra.Command{
		Use:   "restart [INSTANCE] [SERVICE]",
		Short: "Restart an instance's replicas, or one service's",
		Long: `restart replaces the replicas of the instance (or of one service) within
its active release, with the same zero-downtime switchover as up: new
replicas start and get healthy before the old ones are drained. A downed
instance is brought back with quai start.

In a project folder INSTANCE may be left out: the instance is the one the
project deploys for -e/--env and --org, and a single argument naming one of
its services is that service.`,
		Example: `  quai restart shop-prod
  quai restart shop-prod web
  quai restart web                 # in a project folder: web of its dev instance`,
		Args:              cobra.MaximumNArgs(2),
		ValidArgsFunction: g.completeInstance(true),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, service, err := resolveInstanceService(ctx, "restart", args, p)
			if err != nil {
				return err
			}
			return t.explain(g.operate(ctx, func(c *client.Client, emit wire.Emitter) (wire.Event, error) {
				return c.Restart(ctx, t.Name, service, emit)
			}))
		},
	}
	p.flags(cmd)
	return cmd
}
