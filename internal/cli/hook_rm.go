package cli

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
)

func newHookRmCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "rm ID",
		Aliases: []string{"remove"},
		Short:   "Delete a deploy hook (calls to it are refused from now on)",
		Example: "  quai hook rm hXb1c2d3e4f5g6h7",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.act(cmd.Context(), func(c *client.Client) error { return c.RemoveHook(cmd.Context(), args[0]) }, "removed", args[0], "hook "+args[0]+" removed")
		},
	}
}
