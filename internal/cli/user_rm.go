package cli

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
)

func newUserRmCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"remove"},
		Short:   "Remove a user with its grants and tokens (its open streams end)",
		Example: "  quai user rm alice",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.act(cmd.Context(), func(c *client.Client) error { return c.RemoveUser(cmd.Context(), args[0]) }, "removed", args[0], "user "+args[0]+" removed")
		},
	}
}
