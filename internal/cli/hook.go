package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/wire"
)

func newHookCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hook",
		Short: "Manage CI deploy hooks (signed webhooks that deploy or promote one instance)",
		Long: `A hook lets a CI pipeline deploy a new image to one instance, or promote a
release to it, without a token: it POSTs JSON to /api/v1/hooks/ID with the
header X-Quai-Signature: sha256=<hex HMAC-SHA256 of the body with the hook's
secret>. Calls more than 5 minutes off the daemon's clock, repeated calls and
too many calls are refused, and so is a promotion the target's rules refuse.
docs/teams.md has GitLab CI and GitHub Actions examples.`,
		Example: `  quai hook create acme/shop-staging
  quai hook create acme/shop-prod --action promote --source acme/shop-staging
  quai hook ls
  quai hook rm hXb1...`,
	}
	cmd.AddCommand(newHookCreateCmd(g), newHookLsCmd(g), newHookRmCmd(g))
	return cmd
}

func (g *globals) printHooks(list []wire.Hook) error {
	if len(list) == 0 {
		fprintln(g.stdout, "no hooks; make one with: quai hook create INSTANCE")
		return nil
	}
	now := time.Now()
	tw := newTable(g.stdout)
	fprintln(tw, "ID\tINSTANCE\tACTION\tSOURCE\tCREATED BY\tLAST USED\tURL")
	for _, h := range list {
		fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.ID, h.Instance, h.Action, dash(h.Source), h.CreatedBy, dash(ago(h.LastUsed, now)), h.URL)
	}
	return tw.Flush()
}
