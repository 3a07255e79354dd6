package cli

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

func newStartCmd(g *globals) *cobra.Command {
	var p projectFlags
	cmd := &cobra.Command{
		Use:   "start [INSTANCE]",
		Short: "Bring a downed instance back with the release it ran",
		Long: `start brings back an instance quai down stopped: the replicas of its
active release start again as that release ran them, with no new release,
no build and no pull, and its routes come back once they are healthy. An
instance that runs already is left as it is.

Without INSTANCE it acts on the instance the project around the current
directory deploys for -e/--env and --org.`,
		Example: `  quai start shop-prod
  quai start                       # in a project folder: its dev instance`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: g.completeInstance(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, err := resolveInstance(ctx, "start", firstArg(args), p)
			if err != nil {
				return err
			}
			return t.explain(g.withClient(ctx, func(c *client.Client) error {
				return g.deployAndShow(ctx, c, t.Name, func(emit wire.Emitter) (wire.Event, error) {
					return c.Start(ctx, t.Name, emit)
				})
			}))
		},
	}
	p.flags(cmd)
	return cmd
}
