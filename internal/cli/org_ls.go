package cli

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

func newOrgLsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the organizations you can see",
		Example: "  quai org ls\n  quai org ls --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return show(ctx, g, func(c *client.Client) ([]wire.Org, error) { return c.Orgs(ctx) }, func(list []wire.Org) error {
				for _, o := range list {
					fprintln(g.stdout, o.Name)
				}
				return nil
			})
		},
	}
}
