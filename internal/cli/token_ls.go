package cli

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

type tokenLsOptions struct {
	User string
	All  bool
}

func newTokenLsCmd(g *globals) *cobra.Command {
	var o tokenLsOptions
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List tokens (yours; --user or --all for those of users you administer)",
		Example: "  quai token ls\n  quai token ls --user ci\n  quai token ls --all --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return show(ctx, g, func(c *client.Client) ([]wire.Token, error) { return c.Tokens(ctx, o.User, o.All) }, g.printTokens)
		},
	}
	cmd.Flags().StringVar(&o.User, "user", "", "list this user's tokens")
	cmd.Flags().BoolVar(&o.All, "all", false, "list the tokens of every user you administer")
	return cmd
}
