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
	return &cobra.Command{
		Use:   "releases INSTANCE",
		Short: "List an instance's releases, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return show(ctx, g, func(c *client.Client) ([]wire.Release, error) { return c.Releases(ctx, args[0]) }, g.printReleases)
		},
	}
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

func (g *globals) printReleases(rels []wire.Release) error {
	now := time.Now()
	tw := newTable(g.stdout)
	fprintln(tw, "RELEASE\tSTATUS\tCREATED\tRUNTIME\tSECRETS\tCAUSE\tERROR")
	for _, r := range rels {
		mark := " "
		if r.Status == wire.ReleaseActive {
			mark = "*"
		}
		fprintf(tw, "%s%d\t%s\t%s\t%s\t%s\t%s\t%s\n", mark, r.Number, r.Status, ago(r.Created, now),
			dash(r.Runtime), dash(secretVersions(r.Secrets)), dash(r.Cause), dash(r.Error))
	}
	return tw.Flush()
}
