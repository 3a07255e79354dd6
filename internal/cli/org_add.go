package cli

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
)

func newOrgAddCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "add NAME",
		Short:   "Add an organization (the host's administrator only)",
		Example: "  quai org add acme\n  quai user add alice --role admin --in acme",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.act(cmd.Context(), func(c *client.Client) error { return c.AddOrg(cmd.Context(), args[0]) }, "org", args[0], "organization "+args[0]+" added")
		},
	}
}
