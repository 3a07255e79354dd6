package cli

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

type hookCreateOptions struct {
	Action string
	Source string
}

func newHookCreateCmd(g *globals) *cobra.Command {
	var o hookCreateOptions
	cmd := &cobra.Command{
		Use:   "create INSTANCE [--action deploy|promote] [--source INSTANCE]",
		Short: "Make a deploy hook for an instance; its secret is printed this once",
		Long: `create makes a hook for INSTANCE. A deploy hook re-deploys the instance's
active release with the images the call names ({"timestamp": UNIX,
"images": {"web": "registry.example.com/shop:1.4.2"}}); a promote hook
promotes a release of --source to it ({"timestamp": UNIX, "release": 12},
0 or none for the source's active release), under the target's promotion
rules. You need the member role on the instance (and read on the source).`,
		Example: `  quai hook create acme/shop-staging
  quai hook create acme/shop-prod --action promote --source acme/shop-staging`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return show(ctx, g, func(c *client.Client) (wire.HookCreated, error) {
				return c.CreateHook(ctx, wire.HookRequest{Instance: args[0], Action: o.Action, Source: o.Source})
			}, func(h wire.HookCreated) error {
				fprintf(g.stdout, "hook %s for %s (%s)\n  url:    %s\n  secret: %s\n", h.ID, h.Instance, h.Action, h.URL, h.Secret)
				fprintln(g.stderr, "copy the secret into your CI's secret variables now; it is not shown again")
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&o.Action, "action", "deploy", "deploy (new images) or promote (a release of --source)")
	cmd.Flags().StringVar(&o.Source, "source", "", "the instance a promote hook promotes from")
	return cmd
}
