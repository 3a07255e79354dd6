package cli

import (
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/wire"
)

func newUserCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage the users of the remote API and their roles",
		Long: `A user logs in to the remote API (quai login) and acts with the roles granted
to it: admin, member or reader of an organization, optionally narrowed to a
project and/or an environment (ORG[/PROJECT][:ENV]). docs/teams.md lists what
each role may do. On the host's socket these verbs act as root; remotely an
organization's admin manages the users of its organization.`,
		Example: `  quai user add alice --role member --in acme:dev
  quai user grant alice reader acme:prod
  quai user ls`,
	}
	cmd.AddCommand(newUserAddCmd(g), newUserLsCmd(g), newUserRmCmd(g), newUserPasswdCmd(g), newUserGrantCmd(g), newUserRevokeCmd(g))
	return cmd
}

func (g *globals) printUsers(list []wire.User) error {
	if len(list) == 0 {
		fprintln(g.stdout, "no users; add one with: quai user add NAME --role admin --in ORG")
		return nil
	}
	tw := newTable(g.stdout)
	fprintln(tw, "NAME\tGRANTS\tCREATED")
	now := time.Now()
	for _, u := range list {
		fprintf(tw, "%s\t%s\t%s\n", u.Name, dash(strings.Join(u.Grants, ", ")), ago(u.Created, now))
	}
	return tw.Flush()
}

func (g *globals) printUser(u wire.User) error {
	if g.JSON {
		return g.printJSON(u)
	}
	fprintf(g.stdout, "%s: %s\n", u.Name, dash(strings.Join(u.Grants, ", ")))
	return nil
}
