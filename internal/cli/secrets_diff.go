package cli

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/secrets"
	"github.com/quai-dev/quai/internal/secrets/sops"
	"github.com/quai-dev/quai/internal/stack"
)

type secretsDiffOptions struct {
	Dir  string
	Envs []string
	Org  string
}

// secretsDiff compares the names two environments seal: names only.
type secretsDiff struct {
	A      string   `json:"a"`
	B      string   `json:"b"`
	Org    string   `json:"org,omitempty"`
	OnlyA  []string `json:"only_in_a"`
	OnlyB  []string `json:"only_in_b"`
	InBoth []string `json:"in_both"`
}

func newSecretsDiffCmd(g *globals) *cobra.Command {
	var o secretsDiffOptions
	cmd := &cobra.Command{
		Use:   "diff DIR --env A --env B [--org ORG]",
		Short: "Compare the secret names of two environments (names only)",
		Long: `diff compares the names sealed for two environments: those only in A, only
in B, and in both. With --org it compares what an instance of ORG gets (the
base file's names and the org's own); without, the base files. It reads
names only and never opens a file: values are not compared.`,
		Example: `  quai secrets diff ./shop --env staging --env prod
  quai secrets diff ./shop --env staging --env prod --org acme --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Dir = args[0]
			if len(o.Envs) != 2 {
				return usageErrorf("give two environments to compare: --env A --env B")
			}
			d := secretsDiff{A: o.Envs[0], B: o.Envs[1], Org: o.Org}
			names := make([][]string, 2)
			for i, env := range o.Envs {
				if err := secrets.CheckScope(cmp.Or(o.Org, stack.DefaultOrg), env); err != nil {
					return err
				}
				n, err := sealedNames(o.Dir, o.Org, env)
				if err != nil {
					return err
				}
				names[i] = n
			}
			for _, n := range names[0] {
				if slices.Contains(names[1], n) {
					d.InBoth = append(d.InBoth, n)
				} else {
					d.OnlyA = append(d.OnlyA, n)
				}
			}
			for _, n := range names[1] {
				if !slices.Contains(names[0], n) {
					d.OnlyB = append(d.OnlyB, n)
				}
			}
			if g.JSON {
				d.OnlyA, d.OnlyB, d.InBoth = nonNil(d.OnlyA), nonNil(d.OnlyB), nonNil(d.InBoth)
				return g.printJSON(d)
			}
			fprintf(g.stdout, "only in %s: %s\nonly in %s: %s\nin both: %s\n",
				d.A, dash(strings.Join(d.OnlyA, ", ")), d.B, dash(strings.Join(d.OnlyB, ", ")), dash(strings.Join(d.InBoth, ", ")))
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&o.Envs, "env", "e", nil, "an environment to compare (give two)")
	cmd.Flags().StringVar(&o.Org, "org", "", "compare what an instance of this org gets: the base files and the org's own")
	return cmd
}

// sealedNames are the names an instance of org in env gets from the
// project's sealed files, sorted; the base file's only when org is "".
func sealedNames(dir, org, env string) ([]string, error) {
	var out []string
	rels := []string{secrets.ProjectFile("", env)}
	if org != "" {
		rels = append(rels, secrets.ProjectFile(org, env))
	}
	for _, rel := range rels {
		b, err := readSealedFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return nil, err
		}
		if b == nil {
			continue
		}
		meta, err := sops.Inspect(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		out = append(out, meta.Names...)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
