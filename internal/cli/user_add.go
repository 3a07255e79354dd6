package cli

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

type userAddOptions struct {
	Role string
	In   string
}

func newUserAddCmd(g *globals) *cobra.Command {
	var o userAddOptions
	cmd := &cobra.Command{
		Use:   "add NAME [--role ROLE --in ORG[/PROJECT][:ENV]]",
		Short: "Add a user (the password is read from the terminal or stdin)",
		Long: `add creates a user with a password (at least 8 characters; read hidden from
the terminal, asked twice, or from stdin) and, with --role and --in, a first
grant. An organization's admin adds users with a grant in its organization;
a user without any grant needs the host's administrator.`,
		Example: `  quai user add alice --role member --in acme:dev
  echo "$PW" | quai user add ci-shop --role member --in acme/shop:staging
  quai user add ops --role admin --in '*'        # administrator of every organization`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := g.readSecret("password for "+args[0], true, false)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			return show(ctx, g, func(c *client.Client) (wire.User, error) {
				return c.AddUser(ctx, wire.UserRequest{Name: args[0], Password: pw, Role: o.Role, Path: o.In})
			}, g.printUser)
		},
	}
	cmd.Flags().StringVar(&o.Role, "role", "", "role of the first grant: admin, member or reader")
	cmd.Flags().StringVar(&o.In, "in", "", "where the first grant applies: ORG[/PROJECT][:ENV], or * for every organization")
	return cmd
}
