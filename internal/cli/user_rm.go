package cli

import (
	"github.com/spf13/cobra"
)

func newUserRmCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"remove"},
		Short:   "Remove a user with its grants and tokens (its open streams end)",
		Example: "  quai user rm alice",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.RemoveUser(cmd.Context(), args[0]); err != nil {
				return err
			}
			if g.JSON {
				return g.printJSON(map[string]string{"removed": args[0]})
			}
			fprintf(g.stdout, "user %s removed\n", args[0])
			return nil
		},
	}
}
