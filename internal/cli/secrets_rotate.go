package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/secrets"
	"github.com/quai-dev/quai/internal/wire"
)

type secretsRotateOptions struct {
	secretsFile
	AddOrgs    []string
	RemoveOrgs []string
	NewKey     bool
}

func newSecretsRotateCmd(g *globals) *cobra.Command {
	var o secretsRotateOptions
	cmd := &cobra.Command{
		Use:   "rotate DIR --env ENV [--org ORG] [--add-org ORG] [--remove-org ORG] [--new-key]",
		Short: "Re-seal a sealed file with a new data key, for other orgs or new keys",
		Long: `rotate re-seals secrets/ENV.yaml (or with --org orgs/ORG/secrets/ENV.yaml)
with a new data key: every value's ciphertext changes, no value does. The
file is sealed for the current generation of each of its orgs' keys, so it
also moves the file off older generations.

--add-org and --remove-org change which orgs' instances may open the base
file (an org's own file is for that org only). --new-key first makes a new
generation of those orgs' keys; older generations stay until
` + "`quai secrets key retire`" + ` removes them, which it does only once no sealed
file of the project lists them. Recipients that are not keys of this daemon
(a colleague's, a break-glass key) are kept.

Rotating changes how values are sealed, not the values: after a leak, also
change the values themselves (` + "`quai secrets set`" + `).`,
		Example: `  quai secrets rotate ./shop --env prod
  quai secrets rotate ./shop --env prod --add-org acme
  quai secrets rotate ./shop --env prod --remove-org globex --new-key
  quai secrets rotate ./shop --env prod --org acme --new-key`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Dir = args[0]
			if err := o.check(); err != nil {
				return err
			}
			for _, org := range append(append([]string{}, o.AddOrgs...), o.RemoveOrgs...) {
				if err := secrets.CheckScope(org, o.Env); err != nil {
					return err
				}
			}
			if b, err := readSealedFile(o.path()); err != nil {
				return err
			} else if b == nil {
				return fmt.Errorf("%s does not exist; create it with `%s`", o.rel(), secrets.SetCommand(o.Dir, o.Org, o.Env, "NAME"))
			}
			res, err := g.changeSealedFile(cmd.Context(), o.secretsFile, wire.SecretsFileRequest{
				Rotate: true, AddOrgs: o.AddOrgs, RemoveOrgs: o.RemoveOrgs, NewKey: o.NewKey,
			})
			if err != nil {
				return err
			}
			return g.printSealed(res, fmt.Sprintf("re-sealed %s with a new data key (%d secrets)", res.File, len(res.Names)))
		},
	}
	o.flags(cmd)
	f := cmd.Flags()
	f.StringArrayVar(&o.AddOrgs, "add-org", nil, "also seal the base file for this org's key (repeatable)")
	f.StringArrayVar(&o.RemoveOrgs, "remove-org", nil, "no longer seal the base file for this org's key (repeatable)")
	f.BoolVar(&o.NewKey, "new-key", false, "make a new generation of the orgs' keys first and seal with it")
	return cmd
}
