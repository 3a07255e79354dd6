package cli

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

func newUserRevokeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "revoke NAME ORG[/PROJECT][:ENV]",
		Short:   "Take away a user's grant (its open requests end)",
		Example: "  quai user revoke alice acme:prod",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return show(ctx, g, func(c *client.Client) (wire.User, error) {
				return c.Grant(ctx, args[0], wire.GrantRequest{Path: args[1]}, false)
			}, g.printUser)
		},
	}
}
