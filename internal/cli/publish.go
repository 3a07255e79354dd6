package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/registry"
	"github.com/quai-dev/quai/internal/registry/helmoci"
	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/stack"
)

// publishOptions are the flags of `quai publish`.
type publishOptions struct {
	Dir   string
	Env   string
	Org   string
	OCI   string
	Chart render.HelmOptions
	Kube  render.KubeOptions
	// CAFile adds a CA to trust for the registry.
	CAFile string
	JSON   bool
}

func newPublishCmd(g *globals) *cobra.Command {
	opts := publishOptions{Dir: "."}
	cmd := &cobra.Command{
		Use:   "publish [DIR] --oci REGISTRY/REPO[:TAG]",
		Short: "Push the Helm chart of an instance to an OCI registry",
		Long: `Render the stack in DIR (default: the current directory) for one environment
and organization as a Helm chart (what quai render --target helm -o writes),
package it and push it to an OCI registry the way helm push does: an OCI
manifest whose config is Chart.yaml (application/vnd.cncf.helm.config.v1+json)
and whose one layer is the chart's .tgz
(application/vnd.cncf.helm.chart.content.v1.tar+gzip). Anyone with access then
installs it with helm install NAME oci://REGISTRY/REPO --version VERSION.

The tag is the chart version: TAG when given (then it is the chart version,
and must be SemVer), else --chart-version, else the version render would give
(the main image's tag when a release version like 1.4.2, else 0.1.0). By Helm's convention the last
element of REPO is the chart's name (the project's). The package is
deterministic, so publishing the same chart again gives the same digest.

Credentials come from the Docker config (docker login REGISTRY; $DOCKER_CONFIG,
else ~/.docker/config.json), as for quai's image pushes; the registry's
certificate is checked against the system CAs, the Docker Engine's CAs for it
(/etc/docker/certs.d/REGISTRY/*.crt) and --ca-file. Secrets are never in the
chart: it references the Secrets listed on stderr.

Exit status: 0 when pushed, 2 when the command line or the stack is invalid,
3 when DIR has no stack, 1 when the push failed (the registry refused the
credentials, or could not be reached).`,
		Example: `  quai publish --env prod --oci registry.example.com/charts/shop
  quai publish ./shop -e prod --org acme --oci registry.example.com/acme/shop:1.4.2
  helm install shop oci://registry.example.com/acme/shop --version 1.4.2
  quai publish -e staging --oci localhost:5000/charts/shop --ca-file ./ca.crt --json`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeDirs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Dir = args[0]
			}
			opts.JSON = g.JSON
			return runPublish(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.OCI, "oci", "", "where to push the chart: REGISTRY/REPO[:TAG] (oci:// optional)")
	envFlag(cmd, &opts.Env)
	orgFlag(cmd, &opts.Org)
	f.StringVar(&opts.CAFile, "ca-file", "", "PEM file of a CA to trust for the registry's certificate")
	chartFlags(cmd, &opts.Chart)
	kubeFlags(cmd, &opts.Kube)
	return cmd
}

func runPublish(ctx context.Context, stdout, stderr io.Writer, opts publishOptions) error {
	if opts.OCI == "" {
		return usageErrorf("publish needs --oci REGISTRY/REPO[:TAG], e.g. --oci registry.example.com/charts/shop")
	}
	ref, err := helmoci.ParseRef(opts.OCI)
	if err != nil {
		return usageErrorf("--oci: %w", err)
	}
	switch {
	case ref.Tag != "" && opts.Chart.ChartVersion == "":
		// The tag is the chart version, as Helm requires.
		opts.Chart.ChartVersion = ref.Tag
	case ref.Tag != "" && strings.TrimPrefix(opts.Chart.ChartVersion, "v") != strings.TrimPrefix(ref.Tag, "v"):
		return usageErrorf("--oci tag %s and --chart-version %s differ: Helm finds a chart by its version, so give one of them", ref.Tag, opts.Chart.ChartVersion)
	}
	m, err := loadStack(ctx, "publish", stack.Options{Dir: opts.Dir, Env: opts.Env, Org: opts.Org})
	if err != nil {
		return err
	}
	c, err := buildChart(m, opts.Chart, opts.Kube)
	if err != nil {
		return err
	}
	ref.Tag = ""
	pkg, err := c.Package()
	if err != nil {
		return err
	}
	cfg, err := c.ConfigJSON()
	if err != nil {
		return err
	}
	res, err := helmoci.Push(ctx, ref, helmoci.Chart{
		Name: c.Name, Version: c.Version, Description: c.Description, Config: cfg, Package: pkg,
	}, helmoci.Options{CAFile: opts.CAFile})
	if errors.Is(err, registry.ErrReference) {
		return usageErrorf("--oci: %w", err)
	}
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(stdout, map[string]any{
			"reference": res.Reference, "digest": res.Digest, "size": res.Size,
			"chart": c.Name, "version": c.Version, "app_version": c.AppVersion,
			"secrets": c.Manifests.Secrets, "warnings": c.Manifests.Warnings,
		})
	}
	printKubeNotes(stderr, c.Manifests, m.Dir)
	repo := strings.TrimSuffix(res.Reference, ":"+strings.ReplaceAll(c.Version, "+", "_"))
	msg := fmt.Sprintf("pushed chart %s %s to %s (%s, %d bytes)\ninstall it with: helm install %s %s --version %s\n",
		c.Name, c.Version, res.Reference, res.Digest, res.Size, c.Name, repo, c.Version)
	if _, err := io.WriteString(stdout, msg); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}
