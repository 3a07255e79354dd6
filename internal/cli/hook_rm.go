package cli

import (
	"github.com/spf13/cobra"
)

func newHookRmCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "rm ID",
		Aliases: []string{"remove"},
		Short:   "Delete a deploy hook (calls to it are refused from now on)",
		Example: "  quai hook rm hXb1c2d3e4f5g6h7",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.RemoveHook(cmd.Context(), args[0]); err != nil {
				return err
			}
			if g.JSON {
				return g.printJSON(map[string]string{"removed": args[0]})
			}
			fprintf(g.stdout, "hook %s removed\n", args[0])
			return nil
		},
	}
}
