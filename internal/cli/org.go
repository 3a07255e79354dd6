package cli

import (
	"github.com/spf13/cobra"
)

func newOrgCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "org",
		Short: "List and add organizations",
		Long: `An organization is a tenant: its instances, secrets keys, backup repository
and users' roles are its own. An organization exists once added or once an
instance is deployed for it (quai up --org).`,
		Example: "  quai org add acme\n  quai org ls",
	}
	cmd.AddCommand(newOrgAddCmd(g), newOrgLsCmd(g))
	return cmd
}
