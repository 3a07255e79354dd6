package cli

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
)

func newTokenRevokeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "revoke ID",
		Short:   "Revoke a token at once (requests and streams using it end)",
		Example: "  quai token revoke 3fZk0aQ1bC2d",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.act(cmd.Context(), func(c *client.Client) error { return c.RevokeToken(cmd.Context(), args[0]) }, "revoked", args[0], "token "+args[0]+" revoked")
		},
	}
}
