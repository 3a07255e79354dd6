package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/secrets"
	"github.com/quai-dev/quai/internal/wire"
)

type secretsRmOptions struct {
	secretsFile
	Names []string
}

func newSecretsRmCmd(g *globals) *cobra.Command {
	var o secretsRmOptions
	cmd := &cobra.Command{
		Use:   "rm DIR --env ENV [--org ORG] NAME...",
		Short: "Remove sealed secrets from the project",
		Long: `rm removes NAMEs from secrets/ENV.yaml, or with --org from
orgs/ORG/secrets/ENV.yaml, and re-seals the file. Every NAME must be in the
file; nothing changes otherwise. Instances keep the values their releases
ran with until their next deploy.`,
		Example: `  quai secrets rm ./shop --env prod old_token
  quai secrets rm ./shop --env prod --org acme api_token smtp_password`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Dir, o.Names = args[0], args[1:]
			if err := o.check(); err != nil {
				return err
			}
			for _, n := range o.Names {
				if err := secrets.CheckName(n); err != nil {
					return err
				}
			}
			if b, err := readSealedFile(o.path()); err != nil {
				return err
			} else if b == nil {
				return fmt.Errorf("%s does not exist; `quai secrets ls %s` lists the sealed files", o.rel(), o.Dir)
			}
			res, err := g.changeSealedFile(cmd.Context(), o.secretsFile, wire.SecretsFileRequest{Delete: o.Names})
			if err != nil {
				return err
			}
			return g.printSealed(res, fmt.Sprintf("removed %s from %s", strings.Join(o.Names, ", "), res.File))
		},
	}
	o.flags(cmd)
	return cmd
}
