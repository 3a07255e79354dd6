package cli

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/version"
)

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print quai's version and commit",
		Long: `version prints the version and commit quai was built from, as the Makefile
stamped them, or else as the Go toolchain recorded them (go install of a
tag, go build in a checkout). quai --version prints the same line.`,
		Example: `  quai version
  quai version --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := version.Get()
			if g.JSON {
				return g.printJSON(b)
			}
			fprintln(g.stdout, b.String())
			return nil
		},
	}
}
