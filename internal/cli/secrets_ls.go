package cli

import (
	"cmp"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/secrets"
	"github.com/quai-dev/quai/internal/secrets/sops"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

type secretsLsOptions struct {
	Dir string
	Env string
	Org string
}

// sealedName is one row of `quai secrets ls`: a name, never its value.
type sealedName struct {
	Name         string                 `json:"name"`
	File         string                 `json:"file"`
	LastModified time.Time              `json:"last_modified"`
	Recipients   []wire.SecretRecipient `json:"recipients"`
}

func newSecretsLsCmd(g *globals) *cobra.Command {
	var o secretsLsOptions
	cmd := &cobra.Command{
		Use:   "ls DIR [--env ENV] [--org ORG]",
		Short: "List the sealed secrets of a project: names, files and who can open them",
		Long: `ls lists the names sealed in the project's secrets/ENV.yaml and
orgs/ORG/secrets/ENV.yaml files (every env and org unless --env, --org), with
the file, when it was last sealed and who can open it: the daemon's keys as
ORG/ENV#GENERATION, other recipients by their public key. It never shows a
value: it does not open the files.`,
		Example: `  quai secrets ls ./shop
  quai secrets ls ./shop --env prod --org acme
  quai secrets ls ./shop --env prod --json | jq -r '.[].name'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Dir = args[0]
			if o.Env != "" || o.Org != "" {
				if err := secrets.CheckScope(cmp.Or(o.Org, stack.DefaultOrg), cmp.Or(o.Env, stack.DefaultEnv)); err != nil {
					return err
				}
			}
			files, err := projectSealedFiles(o.Dir, o.Env, o.Org)
			if err != nil {
				return err
			}
			var keys []wire.SecretKey
			if len(files) > 0 {
				c, err := g.client(cmd.Context())
				if err != nil {
					return err
				}
				defer c.Close()
				if keys, err = c.SecretKeys(cmd.Context(), "", ""); err != nil {
					return err
				}
			}
			rows := []sealedName{}
			for _, rel := range files {
				b, err := readSealedFile(filepath.Join(o.Dir, filepath.FromSlash(rel)))
				if err != nil {
					return err
				}
				meta, err := sops.Inspect(b)
				if err != nil {
					return fmt.Errorf("%s: %w", rel, err)
				}
				recips := describeRecipients(meta.Recipients, keys)
				for _, n := range meta.Names {
					rows = append(rows, sealedName{Name: n, File: rel, LastModified: meta.LastModified, Recipients: recips})
				}
			}
			if g.JSON {
				return g.printJSON(rows)
			}
			if len(rows) == 0 {
				fprintf(g.stderr, "no sealed secrets in %s; add one with `quai secrets set %s --env ENV NAME`\n", o.Dir, o.Dir)
				return nil
			}
			tw := newTable(g.stdout)
			fprintln(tw, "NAME\tFILE\tSEALED\tOPENS WITH")
			now := time.Now()
			for _, r := range rows {
				fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.File, ago(r.LastModified, now), recipientNames(r.Recipients))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&o.Env, "env", "e", "", "only this environment's files")
	cmd.Flags().StringVar(&o.Org, "org", "", "only the base files and this org's own")
	return cmd
}

// describeRecipients maps recipients to the daemon's keys.
func describeRecipients(recips []string, keys []wire.SecretKey) []wire.SecretRecipient {
	out := make([]wire.SecretRecipient, len(recips))
	for i, r := range recips {
		out[i].Recipient = r
		for _, k := range keys {
			if k.Recipient == r {
				out[i].Key = &k
				break
			}
		}
	}
	return out
}
