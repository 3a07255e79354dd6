package cli

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

func newWhoAmICmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "whoami",
		Short:   "Show who your credentials belong to and their roles",
		Example: "  quai whoami\n  quai whoami --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return show(ctx, g, func(c *client.Client) (wire.WhoAmI, error) { return c.WhoAmI(ctx) }, func(w wire.WhoAmI) error {
				switch {
				case w.Local:
					fprintf(g.stdout, "%s on the host's socket: every right\n", w.User)
				case w.TokenName != "":
					fprintf(g.stdout, "%s (token %s)\n", w.User, w.TokenName)
				default:
					fprintln(g.stdout, w.User)
				}
				for _, gr := range w.Grants {
					fprintf(g.stdout, "  %s\n", gr)
				}
				return nil
			})
		},
	}
}
