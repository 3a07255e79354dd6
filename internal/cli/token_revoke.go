package cli

import (
	"github.com/spf13/cobra"
)

func newTokenRevokeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "revoke ID",
		Short:   "Revoke a token at once (requests and streams using it end)",
		Example: "  quai token revoke 3fZk0aQ1bC2d",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.RevokeToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			if g.JSON {
				return g.printJSON(map[string]string{"revoked": args[0]})
			}
			fprintf(g.stdout, "token %s revoked\n", args[0])
			return nil
		},
	}
}
