package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/fsutil"
	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/stack"
)

// Render targets.
const (
	targetKubernetes = "kubernetes"
	targetCompose    = "compose"
	targetHelm       = "helm"
)

// renderOptions are the flags of `quai render`.
type renderOptions struct {
	Dir    string
	Target string
	Env    string
	Org    string
	// OutDir, when set, receives one file per object instead of stdout.
	OutDir string
	JSON   bool
	Kube   render.KubeOptions
	// ComposeV1 renders for docker-compose 1.x: no top-level name.
	ComposeV1 bool
	// Chart are the Helm target's choices (Kube is used, not Chart.Kube);
	// Package writes the chart's .tgz into OutDir instead of its files.
	Chart   render.HelmOptions
	Package bool
}

func newRenderCmd(g *globals) *cobra.Command {
	opts := renderOptions{Dir: ".", Target: targetKubernetes}
	cmd := &cobra.Command{
		Use:   "render [DIR]",
		Short: "Print the Kubernetes manifests, the Helm chart or the Compose file of an instance",
		Long: `Load the stack in DIR (default: the current directory) for one environment
and organization, as quai up would, and print what another tool needs to run
that instance, without deploying anything:

  --target kubernetes   one namespace per instance (<org>-<project>-<env>) with
                        NetworkPolicies, ConfigMaps for bind-mounted project
                        files, claims, Services, Deployments or StatefulSets,
                        PodDisruptionBudgets and Ingresses (cert-manager TLS)
  --target helm         a Helm chart in DIR (-o is required): Chart.yaml,
                        values.yaml and one template per object; with its
                        default values, helm template prints exactly what
                        --target kubernetes does for the same env and org.
                        values.yaml holds what varies between environments
                        and orgs: namespace, org/env labels, cluster choices,
                        per service image, replicas, resources and clear
                        environment values, per route the host. --package
                        writes DIR/<chart>-<version>.tgz instead (fixed times
                        and order: the same chart packs to the same bytes);
                        quai publish --oci pushes it to a registry
  --target compose      the merged Compose file, project name set to the
                        instance, quai's labels on every service

Output is one multi-document YAML stream on stdout, or with -o DIR one file per
object (<kind>-<name>.yaml; compose.yaml for Compose); files of objects no
longer rendered are left in DIR, except in a chart's templates/, where they
would still be installed. Secrets are referenced, never written (not in
values.yaml either): the kubectl commands that create them, and whatever has
no faithful Kubernetes equivalent, are printed on stderr (and in the chart's
NOTES.txt).

The chart's version is --chart-version, else the main image's tag when it is a
release version (1.4.2, v1.4.2), else 0.1.0; its appVersion is --app-version,
else that tag (or digest).

Exit status: 0 when rendered, 2 when the stack is invalid, 3 when DIR has no
stack, 1 when it cannot be rendered.`,
		Example: `  quai render ./shop --env prod | kubectl apply -f -
  quai render ./shop --env prod --org acme -o manifests/
  quai render --target compose -e staging > compose.staging.yaml
  quai render --ingress-class traefik --cluster-issuer letsencrypt --storage-class fast
  quai render --target helm --env prod --org acme -o charts/shop
  helm template shop charts/shop -f values.staging.yaml
  quai render --target helm --env prod --chart-version 1.4.2 --package -o dist/`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeDirs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Dir = args[0]
			}
			opts.JSON = g.JSON
			return runRender(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Target, "target", opts.Target, "what to render: kubernetes, helm or compose")
	f.BoolVar(&opts.ComposeV1, "compose-v1", false, "with --target compose: leave out the top-level name, which docker-compose 1.x refuses (pass the instance with -p)")
	_ = cmd.RegisterFlagCompletionFunc("target", cobra.FixedCompletions([]string{targetKubernetes, targetHelm, targetCompose}, cobra.ShellCompDirectiveNoFileComp))
	envFlag(cmd, &opts.Env)
	orgFlag(cmd, &opts.Org)
	f.StringVarP(&opts.OutDir, "output", "o", "", "write one file per object (the chart, for helm) into this directory instead of stdout")
	f.BoolVar(&opts.Package, "package", false, "helm: write the chart's .tgz into the -o directory instead of its files")
	chartFlags(cmd, &opts.Chart)
	kubeFlags(cmd, &opts.Kube)
	return cmd
}

// chartFlags are the chart's version flags, shared by render and publish.
func chartFlags(cmd *cobra.Command, o *render.HelmOptions) {
	f := cmd.Flags()
	f.StringVar(&o.ChartVersion, "chart-version", "", "helm: the chart's version, SemVer (default: the main image's tag if a release version like 1.4.2, else "+render.DefaultChartVersion+")")
	f.StringVar(&o.AppVersion, "app-version", "", "helm: the chart's appVersion (default: the main image's tag or digest)")
}

// kubeFlags are the cluster choices, shared by render and publish.
func kubeFlags(cmd *cobra.Command, k *render.KubeOptions) {
	f := cmd.Flags()
	f.StringVar(&k.IngressClass, "ingress-class", render.DefaultIngressClass, "ingressClassName of the Ingresses")
	f.StringVar(&k.IngressController, "ingress-controller", "", "the controller serving --ingress-class, which route rules are rendered for: nginx (ingress-nginx annotations), traefik (Middleware objects) or other (security rules refused) (default traefik for the class traefik, else nginx)")
	_ = cmd.RegisterFlagCompletionFunc("ingress-controller", cobra.FixedCompletions(render.Controllers, cobra.ShellCompDirectiveNoFileComp))
	f.StringVar(&k.IngressNamespace, "ingress-namespace", "", "namespace of the ingress controller, admitted by the NetworkPolicies (default "+render.DefaultIngressNamespace+"; traefik for --ingress-controller traefik)")
	f.StringVar(&k.ClusterIssuer, "cluster-issuer", render.DefaultClusterIssuer, "cert-manager ClusterIssuer for routes with tls: auto")
	f.StringVar(&k.LocalClusterIssuer, "local-cluster-issuer", render.DefaultLocalClusterIssuer, "cert-manager ClusterIssuer for tls: auto routes on *.localhost")
	f.StringVar(&k.StorageClass, "storage-class", "", "storageClassName of volume claims (default: the cluster's default class)")
	f.StringVar(&k.VolumeSize, "volume-size", render.DefaultVolumeSize, "storage requested for each named volume")
}

// renderedFile is one output file of `quai render -o DIR`.
type renderedFile struct {
	Name string
	Data []byte
}

func runRender(ctx context.Context, stdout, stderr io.Writer, opts renderOptions) error {
	switch {
	case opts.Target != targetKubernetes && opts.Target != targetCompose && opts.Target != targetHelm:
		return usageErrorf("unknown --target %q: use kubernetes, helm or compose", opts.Target)
	case opts.Target == targetHelm && opts.OutDir == "":
		return usageErrorf("--target helm writes a chart directory: add -o DIR")
	case opts.Package && opts.Target != targetHelm:
		return usageErrorf("--package packs a Helm chart: add --target helm")
	case opts.Target != targetHelm && (opts.Chart.ChartVersion != "" || opts.Chart.AppVersion != ""):
		return usageErrorf("--chart-version and --app-version are the Helm chart's: add --target helm")
	}
	m, err := loadStack(ctx, "render", stack.Options{Dir: opts.Dir, Env: opts.Env, Org: opts.Org})
	if err != nil {
		return err
	}

	var (
		stream []byte
		files  []renderedFile
		asJSON any
	)
	switch opts.Target {
	case targetHelm:
		return renderChart(stdout, stderr, m, opts)
	case targetKubernetes:
		ms, err := render.Kubernetes(m, opts.Kube)
		if err != nil {
			return fmt.Errorf("render %s for kubernetes: %w", m.Identity, err)
		}
		if stream, err = ms.YAML(); err != nil {
			return err
		}
		for _, o := range ms.Objects {
			b, err := o.YAML()
			if err != nil {
				return err
			}
			files = append(files, renderedFile{Name: o.FileName(), Data: b})
		}
		if opts.JSON {
			asJSON = kubeJSON(ms)
		} else {
			printKubeNotes(stderr, ms, m.Dir)
		}
	case targetCompose:
		b, err := render.ComposeWith(m, render.ComposeOptions{NoName: opts.ComposeV1})
		if err != nil {
			return fmt.Errorf("render %s for compose: %w", m.Identity, err)
		}
		stream = b
		files = []renderedFile{{Name: "compose.yaml", Data: b}}
		asJSON = map[string]any{"project": render.Namespace(m.Identity), "compose": string(b)}
	}

	if opts.OutDir != "" {
		if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
			return fmt.Errorf("create output directory: %w", err)
		}
		var wrote []string
		for _, f := range files {
			p := filepath.Join(opts.OutDir, f.Name)
			if err := fsutil.WriteFile(p, f.Data, 0o644); err != nil {
				return fmt.Errorf("write %s: %w", p, err)
			}
			wrote = append(wrote, p)
		}
		if opts.JSON {
			return writeJSON(stdout, map[string]any{"wrote": wrote})
		}
		return printWrote(stdout, wrote)
	}
	if opts.JSON {
		return writeJSON(stdout, asJSON)
	}
	if _, err := stdout.Write(stream); err != nil {
		return fmt.Errorf("write manifests: %w", err)
	}
	return nil
}

// printWrote lists the files -o wrote, one "wrote PATH" line each.
func printWrote(w io.Writer, wrote []string) error {
	var b strings.Builder
	for _, p := range wrote {
		fmt.Fprintf(&b, "wrote %s\n", p)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write file list: %w", err)
	}
	return nil
}

// kubeJSON is the --json form of a Kubernetes rendering.
func kubeJSON(ms *render.Manifests) any {
	objs := make([]any, len(ms.Objects))
	for i, o := range ms.Objects {
		objs[i] = o.Obj
	}
	return map[string]any{
		"namespace": ms.Namespace,
		"objects":   objs,
		"secrets":   ms.Secrets,
		"warnings":  ms.Warnings,
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// printKubeNotes tells, on stderr, what the manifests need and what they
// could not carry over.
func printKubeNotes(w io.Writer, ms *render.Manifests, dir string) {
	var b strings.Builder
	for _, warn := range ms.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", warn)
	}
	if len(ms.Secrets) > 0 {
		fmt.Fprintf(&b, "note: the manifests reference %d secret(s) that must exist in namespace %s before the pods can start; create them, from %s, with:\n", len(ms.Secrets), ms.Namespace, dir)
		for _, s := range ms.Secrets {
			fmt.Fprintf(&b, "  %s\n", s.Command(ms.Namespace))
		}
	}
	// Notes are advice beside the output: failing to print them is not
	// worth failing the render.
	_, _ = io.WriteString(w, b.String())
}
