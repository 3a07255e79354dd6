package cli

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/catalog"
	"github.com/quai-dev/quai/internal/stack"
)

type catalogAddOptions struct {
	Location string
	Name     string
}

func newCatalogAddCmd(g *globals) *cobra.Command {
	var o catalogAddOptions
	cmd := &cobra.Command{
		Use:   "add DIR | GIT_URL",
		Short: "Add a team's own catalog: a folder of entries, or a Git repository of them",
		Long: `add registers a catalog: a folder (referenced where it is, so edits show at
once) or a Git repository (cloned with git into the data directory). Each
entry is a folder holding catalog.yaml and compose.yaml; a catalog may also
be a single entry. Every entry is validated before the catalog is added:
its header against the catalog schema, its stack as quai up loads it (env
prod, settings at their defaults).`,
		Example: `  quai catalog add ./our-catalog
  quai catalog add https://git.example.com/team/catalog.git --name team`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Location = args[0]
			cat, err := g.openCatalog()
			if err != nil {
				return err
			}
			s, entries, err := cat.Add(cmd.Context(), catalog.AddOptions{Location: o.Location, Name: o.Name, Check: func(e *catalog.Entry) error {
				_, err := loadStack(cmd.Context(), "catalog add", stack.Options{Dir: e.Dir, Env: "prod", Environ: e.DefaultEnviron()})
				return err
			}})
			if err != nil {
				return err
			}
			if g.JSON {
				return g.printJSON(s)
			}
			fprintf(g.stdout, "added catalog %s (%s, %d entries):\n", s.Name, s.Location, len(entries))
			for _, e := range entries {
				fprintf(g.stdout, "  %s %s\n", e.Ref(), e.Version)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Name, "name", "", "the catalog's name (default: the folder's or repository's)")
	return cmd
}
