package cli

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

type rollbackOptions struct {
	To int
}

func newRollbackCmd(g *globals) *cobra.Command {
	var o rollbackOptions
	cmd := &cobra.Command{
		Use:   "rollback INSTANCE",
		Short: "Return an instance to an earlier release (default: the previous one)",
		Long: `rollback redeploys what an earlier release recorded, without rebuilding,
with the same zero-downtime switchover as up. The result is a new release.`,
		Example: `  quai rollback shop-prod          # to the release before the active one
  quai rollback shop-prod --to 3   # quai releases shop-prod lists them`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeInstance(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return g.operate(ctx, func(c *client.Client, emit wire.Emitter) (wire.Event, error) {
				return c.Rollback(ctx, args[0], o.To, emit)
			})
		},
	}
	cmd.Flags().IntVar(&o.To, "to", 0, "release number to return to (default: the one before the active release)")
	_ = cmd.RegisterFlagCompletionFunc("to", g.completeReleases)
	return cmd
}
