package cli

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

func newReleasesCmd(g *globals) *cobra.Command {
	var p projectFlags
	cmd := &cobra.Command{
		Use:   "releases [INSTANCE]",
		Short: "List an instance's releases, newest first",
		Long: "List an instance's releases, newest first, with the sealed secret versions (names only) and the images each pins: with x-quai.registry a\n" +
			"repo@sha256:digest reference any runtime can pull, otherwise the engine's image id or the stack's reference.\n\n" +
			"Without INSTANCE it lists those of the instance the project around the current directory deploys for -e/--env and --org.",
		Example:           "  quai releases shop-prod\n  quai releases shop-prod --json\n  quai releases -e prod            # in a project folder: its prod instance",
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: g.completeInstance(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, err := resolveInstance(ctx, "releases", firstArg(args), p)
			if err != nil {
				return err
			}
			return t.explain(show(ctx, g, func(c *client.Client) ([]wire.Release, error) { return c.Releases(ctx, t.Name) }, g.printReleases))
		},
	}
	p.flags(cmd)
	return cmd
}

// secretVersions prints a release's sealed secrets as name@version (the
// version's first 8 digits), by name: a changed version shows which
// secret changed between two releases, never its value.
func secretVersions(v map[string]string) string {
	parts := make([]string, 0, len(v))
	for _, name := range slices.Sorted(maps.Keys(v)) {
		parts = append(parts, name+"@"+v[name][:min(8, len(v[name]))])
	}
	return strings.Join(parts, ",")
}

// releaseImages lists a release's images as service=reference, by
// service. A registry pin (repo@sha256:digest) is shown whole, since it is
// what another runtime or `docker pull` takes; an engine-local image id is
// shortened as the docker CLI does.
func releaseImages(images map[string]string) string {
	parts := make([]string, 0, len(images))
	for _, svc := range slices.Sorted(maps.Keys(images)) {
		ref := images[svc]
		if hexPart, ok := strings.CutPrefix(ref, "sha256:"); ok && len(hexPart) > 12 {
			ref = "sha256:" + hexPart[:12]
		}
		parts = append(parts, svc+"="+ref)
	}
	return strings.Join(parts, ",")
}

func (g *globals) printReleases(rels []wire.Release) error {
	now := time.Now()
	tw := newTable(g.stdout)
	fprintln(tw, "RELEASE\tSTATUS\tCREATED\tRUNTIME\tSECRETS\tCAUSE\tIMAGES\tERROR")
	for _, r := range rels {
		mark := " "
		if r.Status == wire.ReleaseActive {
			mark = "*"
		}
		fprintf(tw, "%s%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", mark, r.Number, r.Status, ago(r.Created, now),
			dash(r.Runtime), dash(secretVersions(r.Secrets)), dash(r.Cause), dash(releaseImages(r.Images)), dash(r.Error))
	}
	return tw.Flush()
}
