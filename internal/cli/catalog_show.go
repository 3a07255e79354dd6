package cli

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/spf13/cobra"
)

func newCatalogShowCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a catalog entry: version, upstream, licence, settings, upgrade notes and files",
		Example: `  quai catalog show wordpress
  quai catalog show builtin/nextcloud --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			cat, err := g.openCatalog()
			if err != nil {
				return err
			}
			e, err := cat.Entry(args[0])
			if err != nil {
				return err
			}
			if g.JSON {
				return g.printJSON(e)
			}
			w := g.stdout
			fprintf(w, "%s %s (%s)\n", e.Ref(), e.Version, dash(e.Title))
			fprintf(w, "  %s\n", e.Description)
			fprintf(w, "  application: %s\n  upstream:    %s\n  licence:     %s\n", dash(e.AppVersion), e.Upstream, e.Licence)
			if len(e.Settings) > 0 {
				fprintln(w, "\nSettings (--set NAME=VALUE):")
				tw := newTable(w)
				fprintln(tw, "  NAME\tTYPE\tDEFAULT\tDESCRIPTION")
				for _, s := range e.Settings {
					def := "-"
					if s.Default != nil {
						def = fmt.Sprint(s.Default)
					}
					if s.Required {
						def = "(required)"
					}
					typ := s.Type
					if typ == "" {
						typ = "string"
					}
					if len(s.Enum) > 0 {
						typ = strings.Join(s.Enum, "|")
					}
					fprintf(tw, "  %s\t%s\t%s\t%s\n", s.Name, typ, def, s.Description)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			if len(e.Upgrades) > 0 {
				fprintln(w, "\nUpgrade notes:")
				for _, u := range e.Upgrades {
					fprintf(w, "  to %d.x: %s\n", u.To, u.Notes)
				}
			}
			fprintln(w, "\nFiles:")
			return fs.WalkDir(e.Files, ".", func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					fprintf(w, "  %s\n", p)
				}
				return err
			})
		},
	}
	return cmd
}
