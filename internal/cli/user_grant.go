package cli

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

func newUserGrantCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "grant NAME ROLE ORG[/PROJECT][:ENV]",
		Short: "Give a user a role in an organization, a project or an environment",
		Long: `grant gives NAME the role ROLE (admin, member or reader) in an organization,
narrowed to a project and/or an environment. A user's role on an instance is
the highest of its grants that apply (org → project → environment); granting
again where a grant exists changes its role. The user's open requests end, so
they reconnect with the new roles.`,
		Example: `  quai user grant alice member acme:dev
  quai user grant alice member acme:staging
  quai user grant alice reader acme:prod
  quai user grant bob admin acme/shop`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return show(ctx, g, func(c *client.Client) (wire.User, error) {
				return c.Grant(ctx, args[0], wire.GrantRequest{Role: args[1], Path: args[2]}, true)
			}, g.printUser)
		},
	}
}
