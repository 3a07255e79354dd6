package cli

import (
	"github.com/spf13/cobra"
)

func newOrgAddCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "add NAME",
		Short:   "Add an organization (the host's administrator only)",
		Example: "  quai org add acme\n  quai user add alice --role admin --in acme",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.AddOrg(cmd.Context(), args[0]); err != nil {
				return err
			}
			if g.JSON {
				return g.printJSON(map[string]string{"org": args[0]})
			}
			fprintf(g.stdout, "organization %s added\n", args[0])
			return nil
		},
	}
}
