package cli

import "github.com/spf13/cobra"

func newInstallCmd(g *globals) *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:   "install [DIR]",
		Short: "Install an instance; if it exists, offer to update or reinstall it",
		Long: `install is up for first installs: when the instance already exists and a
terminal is attached, it asks whether to update it, reinstall it (remove it,
keeping its data, then install) or cancel.`,
		Example: `  quai install ./shop --env prod
  quai install ./shop -e dev -y`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeDirs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Dir = args[0]
			}
			return g.deploy(cmd.Context(), o, deployInstall)
		},
	}
	o.flags(cmd)
	return cmd
}
