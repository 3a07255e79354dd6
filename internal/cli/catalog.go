package cli

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/catalog"
)

func newCatalogCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "catalog",
		Short: "Install ready-made applications (WordPress, Nextcloud, Odoo...) from quai's catalog",
		Long: `catalog lists, shows and installs the applications of quai's catalog: each
entry is an ordinary quai project (compose.yaml with x-quai: pinned images,
generated secrets, health checks, size classes, TLS routes, backups) plus a
catalog.yaml header naming its version, upstream, licence and settings.

install writes the project folder the instance is installed from (settings
in its .env, the host in compose.override.yaml, generated secrets sealed in
secrets/), then deploys it as quai up does. Keep that folder in Git: it is
the instance's source. Running install again on the folder with a newer
catalog upgrades it: an ordinary quai up with a plan.

Teams add their own catalogs with quai catalog add (a folder or a Git
repository of entries).`,
		Example: `  quai catalog ls
  quai catalog show wordpress
  quai catalog install wordpress --org acme --env prod --host blog.acme.com
  quai catalog add ./our-catalog
  quai catalog add https://git.example.com/team/catalog.git`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newCatalogLsCmd(g), newCatalogShowCmd(g), newCatalogInstallCmd(g), newCatalogAddCmd(g), newCatalogRmCmd(g))
	return cmd
}

// openCatalog is the built-in catalog and those added to the data directory.
func (g *globals) openCatalog() (*catalog.Catalog, error) {
	dir, err := g.dataDir()
	if err != nil {
		return nil, err
	}
	return catalog.Open(dir)
}
