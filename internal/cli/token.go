package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/wire"
)

func newTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage API tokens (shown once, stored hashed, expiring, revocable)",
		Long: `A token is how a client (quai login, CI) authenticates to the remote API:
"Authorization: Bearer quai_pat_...". The daemon keeps only its SHA-256 and
its last four characters. A token acts with its user's roles, narrowed by its
scope (an organization, project, environment or instance, and a set of
actions such as the "deploy" group).`,
		Example: `  quai token create laptop
  quai token create ci-shop --user ci --instance acme/shop-staging --actions deploy --expires 2160h
  quai token ls
  quai token revoke 3fZk0aQ1bC2d`,
	}
	cmd.AddCommand(newTokenCreateCmd(g), newTokenLsCmd(g), newTokenRevokeCmd(g))
	return cmd
}

func (g *globals) printTokens(list []wire.Token) error {
	if len(list) == 0 {
		fprintln(g.stdout, "no tokens; make one with: quai token create NAME")
		return nil
	}
	now := time.Now()
	tw := newTable(g.stdout)
	fprintln(tw, "ID\tNAME\tUSER\tKIND\tLAST4\tSCOPE\tEXPIRES\tLAST USED\tSTATE")
	for _, t := range list {
		state := "valid"
		switch {
		case !t.Revoked.IsZero():
			state = "revoked"
		case !now.Before(t.Expires):
			state = "expired"
		}
		fprintf(tw, "%s\t%s\t%s\t%s\t…%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.User, t.Kind, t.Last4, dash(t.Scope),
			t.Expires.Local().Format("2006-01-02 15:04"), dash(ago(t.LastUsed, now)), state)
	}
	return tw.Flush()
}
