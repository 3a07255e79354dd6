package cli

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/catalog"
)

type catalogLsOptions struct {
	// Catalogs lists the added catalogs instead of the entries.
	Catalogs bool
}

func newCatalogLsCmd(g *globals) *cobra.Command {
	var o catalogLsOptions
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the catalog's entries (or, with --catalogs, the catalogs added)",
		Long: `ls lists every entry of the built-in catalog and of the catalogs added with
quai catalog add: name, entry version, application version, catalog and
description. An entry name found in several catalogs is installed as
CATALOG/NAME.`,
		Example: `  quai catalog ls
  quai catalog ls --catalogs
  quai catalog ls --json | jq -r '.[].name'`,
		Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			cat, err := g.openCatalog()
			if err != nil {
				return err
			}
			if o.Catalogs {
				return g.printSources(cat.Sources())
			}
			entries, err := cat.Entries()
			if entries == nil {
				return err
			}
			if err != nil {
				fprintf(g.stderr, "warning: %v\n", err)
			}
			if g.JSON {
				return g.printJSON(entries)
			}
			tw := newTable(g.stdout)
			fprintln(tw, "NAME\tVERSION\tAPP\tCATALOG\tDESCRIPTION")
			for _, e := range entries {
				fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Name, e.Version, dash(e.AppVersion), e.Catalog, firstSentence(e.Description))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&o.Catalogs, "catalogs", false, "list the catalogs added with quai catalog add")
	return cmd
}

func (g *globals) printSources(srcs []catalog.Source) error {
	if g.JSON {
		if srcs == nil {
			srcs = []catalog.Source{}
		}
		return g.printJSON(srcs)
	}
	tw := newTable(g.stdout)
	fprintln(tw, "CATALOG\tKIND\tLOCATION")
	fprintf(tw, "%s\t%s\t%s\n", catalog.BuiltinName, "embedded", "in the quai binary")
	for _, s := range srcs {
		fprintf(tw, "%s\t%s\t%s\n", s.Name, s.Kind, s.Location)
	}
	return tw.Flush()
}

// firstSentence shortens a description for a table row.
func firstSentence(s string) string {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '.' && s[i+1] == ' ' {
			return s[:i+1]
		}
	}
	return s
}
