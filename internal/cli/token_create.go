package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

type tokenCreateOptions struct {
	User     string
	Expires  time.Duration
	In       string
	Instance string
	Actions  []string
}

func newTokenCreateCmd(g *globals) *cobra.Command {
	var o tokenCreateOptions
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Make a token; its secret is printed this once",
		Long: `create makes a token named NAME for you (or, as an admin, for --user) that
expires after --expires (default 30 days). --in or --instance narrow it below
the user's grants, --actions to some actions or groups: deploy (what quai up
needs), promote, read. The secret is printed once; the daemon cannot show it
again.`,
		Example: `  quai token create laptop
  quai token create ci-shop --user ci --instance acme/shop-staging --actions deploy
  quai token create dashboard --in acme --actions read --expires 168h`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return show(ctx, g, func(c *client.Client) (wire.TokenCreated, error) {
				return c.CreateToken(ctx, wire.TokenRequest{Name: args[0], User: o.User, TTL: o.Expires, Path: o.In, Instance: o.Instance, Actions: o.Actions})
			}, func(t wire.TokenCreated) error {
				fprintf(g.stdout, "%s\n", t.Secret)
				fprintf(g.stderr, "token %s (id %s) for %s, expires %s; copy it now, it is not shown again\n",
					t.Name, t.ID, t.User, t.Expires.Local().Format(time.RFC3339))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&o.User, "user", "", "the token's user (default: you)")
	cmd.Flags().DurationVar(&o.Expires, "expires", 0, "lifetime (default 720h, at most 8784h)")
	cmd.Flags().StringVar(&o.In, "in", "", "narrow to ORG[/PROJECT][:ENV]")
	cmd.Flags().StringVar(&o.Instance, "instance", "", "narrow to one instance")
	cmd.Flags().StringSliceVar(&o.Actions, "actions", nil, "narrow to actions or groups (deploy, promote, read)")
	return cmd
}
