package cli

import (
	"github.com/spf13/cobra"
)

func newUserPasswdCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "passwd NAME",
		Short: "Change a user's password (your own, or one of a user you administer)",
		Example: `  quai user passwd alice
  echo "$NEW" | quai user passwd alice`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := g.readSecret("new password for "+args[0], true, false)
			if err != nil {
				return err
			}
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.SetPassword(cmd.Context(), args[0], pw); err != nil {
				return err
			}
			if g.JSON {
				return g.printJSON(map[string]string{"user": args[0]})
			}
			fprintf(g.stdout, "password of %s changed\n", args[0])
			return nil
		},
	}
}
