package cli

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/catalog"
	"github.com/quai-dev/quai/internal/secrets"
	"github.com/quai-dev/quai/internal/secrets/sops"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// catalogInstallOptions are the flags of `quai catalog install`.
type catalogInstallOptions struct {
	Name string
	Org  string
	Env  string
	// Set are NAME=VALUE settings.
	Set  []string
	Host string
	Dir  string
	// NoUp writes the folder and seals its secrets, and deploys nothing.
	NoUp bool
	// ShowSecrets prints the generated values once.
	ShowSecrets bool
	Runtime     string
	Yes         bool
}

func newCatalogInstallCmd(g *globals) *cobra.Command {
	var o catalogInstallOptions
	cmd := &cobra.Command{
		Use:   "install NAME --org ORG --env ENV [--set KEY=VALUE]... [--host HOST] [--dir DIR]",
		Short: "Write a catalog entry's project folder, seal its generated secrets, and deploy it",
		Long: `install writes the project folder of an instance of the catalog entry NAME
(default ./NAME-ORG-ENV): the entry's files, its settings in .env (--set,
else the values written before, else the defaults) and, with --host, the
public host in compose.override.yaml. It generates the secrets the entry
declares (x-quai.secrets ... generate) that the folder does not hold yet and
has the daemon seal them with the (org, env) age key into secrets/ENV.yaml
(orgs/ORG/secrets/ENV.yaml for an org other than the default); their values
are never printed unless --show-secrets. Then it deploys the folder as quai
up does, printing the plan first.

Run it again on the same folder to change a setting or to move to a newer
version of the entry: the files are rewritten, settings and secrets kept,
the upgrade notes of every major version crossed are printed, and the
deploy is an ordinary quai up with a plan. Keep the folder in Git.`,
		Example: `  quai catalog install wordpress --org acme --env prod --host blog.acme.com -y
  quai catalog install nextcloud -e prod --org acme --set NEXTCLOUD_DB=postgres
  quai catalog install wordpress --env prod --org acme --no-up    # write and seal only
  quai catalog install wordpress --dir ./wordpress-acme-prod -e prod --org acme --set WORDPRESS_REPLICAS=3`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			return g.catalogInstall(cmd.Context(), o)
		},
	}
	envFlag(cmd, &o.Env)
	orgFlag(cmd, &o.Org)
	runtimeFlag(cmd, &o.Runtime)
	yesFlag(cmd, &o.Yes)
	f := cmd.Flags()
	f.StringArrayVar(&o.Set, "set", nil, "a setting, KEY=VALUE (repeatable; quai catalog show NAME lists them)")
	f.StringVar(&o.Host, "host", "", "the instance's public host name (default: the entry's, e.g. NAME.ENV.ORG.localhost)")
	f.StringVar(&o.Dir, "dir", "", "the project folder to write (default ./NAME-ORG-ENV)")
	f.BoolVar(&o.NoUp, "no-up", false, "write the folder and seal its secrets, deploy nothing")
	f.BoolVar(&o.ShowSecrets, "show-secrets", false, "print the generated secret values once (they are sealed either way)")
	return cmd
}

func (g *globals) catalogInstall(ctx context.Context, o catalogInstallOptions) error {
	env, org := cmp.Or(o.Env, stack.DefaultEnv), cmp.Or(o.Org, stack.DefaultOrg)
	if err := secrets.CheckScope(org, env); err != nil {
		return usageErrorf("%v", err)
	}
	set := map[string]string{}
	for _, kv := range o.Set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageErrorf("--set %q: give KEY=VALUE, e.g. --set WORDPRESS_REPLICAS=3", kv)
		}
		set[k] = v
	}
	if o.Host != "" {
		if err := catalog.CheckHost(o.Host); err != nil {
			return usageErrorf("%v", err)
		}
	}
	cat, err := g.openCatalog()
	if err != nil {
		return err
	}
	e, err := cat.Entry(o.Name)
	if err != nil {
		return err
	}
	dir := cmp.Or(o.Dir, catalog.DefaultDir(e.Name, org, env))
	res, err := e.Install(catalog.InstallOptions{Dir: dir, Set: set, Host: o.Host})
	if err != nil {
		return err
	}
	if !g.JSON {
		if res.Previous == "" {
			fprintf(g.stdout, "wrote %s: %s %s\n", dir, e.Ref(), e.Version)
		} else {
			fprintf(g.stdout, "updated %s: %s %s -> %s\n", dir, e.Ref(), res.Previous, e.Version)
		}
		for _, k := range res.Kept {
			fprintf(g.stdout, "  kept your %s (changed since it was installed); the entry's new version is %s.catalog-new\n", k, k)
		}
		for _, n := range res.Notes {
			fprintf(g.stdout, "  upgrade notes for %d.x: %s\n", n.To, n.Notes)
		}
	}
	stackOrg := o.Org
	if org == stack.DefaultOrg {
		stackOrg = ""
	}
	m, err := loadStack(ctx, "catalog install", stack.Options{Dir: dir, Env: env, Org: stackOrg})
	if err != nil {
		return err
	}
	if len(m.Routes) > 0 {
		changed, err := e.RecordHost(dir, m.Routes[0].Host)
		if err != nil {
			return err
		}
		if changed {
			if m, err = loadStack(ctx, "catalog install", stack.Options{Dir: dir, Env: env, Org: stackOrg}); err != nil {
				return err
			}
		}
	}
	if err := g.sealGenerated(ctx, m, dir, env, stackOrg, o.ShowSecrets); err != nil {
		return err
	}
	if o.NoUp {
		if !g.JSON {
			fprintf(g.stdout, "deploy it with: quai up %s --env %s%s\n", dir, env, orgArg(stackOrg))
		}
		return nil
	}
	mode := deployInstall
	if res.Previous != "" {
		mode = deployUp
	}
	return g.deploy(ctx, upOptions{Dir: dir, Env: env, Org: stackOrg, Runtime: o.Runtime, Yes: o.Yes}, mode)
}

func orgArg(org string) string {
	if org == "" {
		return ""
	}
	return " --org " + org
}

// sealGenerated generates every secret m declares with x-quai.secrets
// generate that the folder's sealed file for (org, env) does not hold yet,
// and has the daemon seal them in one change of that file.
func (g *globals) sealGenerated(ctx context.Context, m *stack.Model, dir, env, org string, show bool) error {
	f := secretsFile{Dir: dir, Env: env, Org: org}
	current, err := readSealedFile(f.path())
	if err != nil {
		return err
	}
	var held []string
	if len(current) > 0 {
		meta, err := sops.Inspect(current)
		if err != nil {
			return fmt.Errorf("%s: %w", f.rel(), err)
		}
		held = meta.Names
	}
	values := map[string]string{}
	for _, s := range m.Secrets {
		if s.Generate == nil || slices.Contains(held, s.Name) {
			continue
		}
		v, err := s.Generate.NewValue()
		if err != nil {
			return fmt.Errorf("generate secret %s: %w", s.Name, err)
		}
		values[s.Name] = string(v)
	}
	if len(values) == 0 {
		return nil
	}
	res, err := g.changeSealedFile(ctx, f, wire.SecretsFileRequest{Set: values})
	if err != nil {
		return err
	}
	names := slices.Sorted(maps.Keys(values))
	if g.JSON {
		return nil
	}
	fprintf(g.stdout, "generated and sealed %s in %s (for %s)\n", strings.Join(names, ", "), filepath.ToSlash(res.File), recipientNames(res.Recipients))
	if show {
		for _, n := range names {
			fprintf(g.stdout, "  %s=%s\n", n, values[n])
		}
	}
	return nil
}
