package cli

import (
	"github.com/spf13/cobra"
)

func newCatalogRmCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rm CATALOG",
		Short: "Remove a catalog added with quai catalog add",
		Long: `rm forgets an added catalog; a cloned Git catalog's copy is deleted, a
folder is left as it is. Instances installed from its entries keep running
from their own project folders.`,
		Example: `  quai catalog rm our-catalog`,
		Args:    cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			cat, err := g.openCatalog()
			if err != nil {
				return err
			}
			s, err := cat.Remove(args[0])
			if err != nil {
				return err
			}
			if g.JSON {
				return g.printJSON(s)
			}
			fprintf(g.stdout, "removed catalog %s (%s)\n", s.Name, s.Location)
			return nil
		},
	}
}
