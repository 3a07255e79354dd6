package cli

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

func newDownCmd(g *globals) *cobra.Command {
	var p projectFlags
	cmd := &cobra.Command{
		Use:   "down [INSTANCE]",
		Short: "Stop an instance's replicas, keeping its releases and data",
		Long: `down stops every replica of the instance and takes its routes off the
proxy. Its releases, volumes and backups stay; quai start brings it back
with the release it ran (quai up does too when the stack did not change).

Without INSTANCE it acts on the instance the project around the current
directory deploys for -e/--env and --org.`,
		Example: `  quai down                        # in a project folder: its dev instance
  quai down shop-prod
  quai --json down shop-dev`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: g.completeInstance(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, err := resolveInstance(ctx, "down", firstArg(args), p)
			if err != nil {
				return err
			}
			return t.explain(g.operate(ctx, func(c *client.Client, emit wire.Emitter) (wire.Event, error) {
				return c.Down(ctx, t.Name, emit)
			}))
		},
	}
	p.flags(cmd)
	return cmd
}

// firstArg is args[0], or "" when there is none.
func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}
