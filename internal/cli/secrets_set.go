package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/secrets"
	"github.com/quai-dev/quai/internal/wire"
)

type secretsSetOptions struct {
	secretsFile
	Name        string
	KeepNewline bool
}

func newSecretsSetCmd(g *globals) *cobra.Command {
	var o secretsSetOptions
	cmd := &cobra.Command{
		Use:   "set DIR --env ENV [--org ORG] NAME",
		Short: "Seal a value into the project's secrets of an environment",
		Long: `set seals NAME's value into secrets/ENV.yaml (every org of ENV), or with
--org into orgs/ORG/secrets/ENV.yaml (that org only; it overrides the base
file). The value is read from a hidden prompt when a terminal is attached,
else from stdin, less one trailing newline (--keep-newline keeps it); never
from the command line, where other users and shell history would see it.

The daemon seals the value with the (org, env) age key, creating the key on
first use, and the file is written in place with its recipients recorded in
.sops.yaml. A new base file is sealed for the default org; give more orgs
access with ` + "`quai secrets rotate DIR --env ENV --add-org ORG`" + `.`,
		Example: `  quai secrets set ./shop --env prod db_password
  echo -n "$TOKEN" | quai secrets set ./shop --env prod --org acme api_token
  quai secrets set ./shop --env prod tls_key --keep-newline < key.pem`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Dir, o.Name = args[0], args[1]
			if err := o.check(); err != nil {
				return err
			}
			if err := secrets.CheckName(o.Name); err != nil {
				return err
			}
			value, err := g.readSecret("value of "+o.Name, true, o.KeepNewline)
			if err != nil {
				return err
			}
			if value == "" {
				return fmt.Errorf("the value of %s is empty; nothing was sealed: type it at the prompt or pipe it on stdin", o.Name)
			}
			res, err := g.changeSealedFile(cmd.Context(), o.secretsFile, wire.SecretsFileRequest{Set: map[string]string{o.Name: value}})
			if err != nil {
				return err
			}
			return g.printSealed(res, fmt.Sprintf("sealed %s in %s", o.Name, res.File))
		},
	}
	o.flags(cmd)
	cmd.Flags().BoolVar(&o.KeepNewline, "keep-newline", false, "keep the trailing newline of a value read from stdin")
	return cmd
}
