package cli

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

type rollbackOptions struct {
	To int
	projectFlags
}

func newRollbackCmd(g *globals) *cobra.Command {
	var o rollbackOptions
	cmd := &cobra.Command{
		Use:   "rollback [INSTANCE]",
		Short: "Return an instance to an earlier release (default: the previous one)",
		Long: `rollback redeploys what an earlier release recorded, without rebuilding,
with the same zero-downtime switchover as up. The result is a new release.

Without INSTANCE it acts on the instance the project around the current
directory deploys for -e/--env and --org.`,
		Example: `  quai rollback shop-prod          # to the release before the active one
  quai rollback shop-prod --to 3   # quai releases shop-prod lists them
  quai rollback -e prod            # in a project folder: its prod instance`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: g.completeInstance(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, err := resolveInstance(ctx, "rollback", firstArg(args), o.projectFlags)
			if err != nil {
				return err
			}
			return t.explain(g.operate(ctx, func(c *client.Client, emit wire.Emitter) (wire.Event, error) {
				return c.Rollback(ctx, t.Name, o.To, emit)
			}))
		},
	}
	o.flags(cmd)
	cmd.Flags().IntVar(&o.To, "to", 0, "release number to return to (default: the one before the active release)")
	_ = cmd.RegisterFlagCompletionFunc("to", g.completeReleases)
	return cmd
}
