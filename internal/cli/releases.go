package cli

import (
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

func (g *globals) printReleases(rels []wire.Release) error {
	now := time.Now()
	tw := newTable(g.stdout)
	fprintln(tw, "RELEASE\tSTATUS\tCREATED\tRUNTIME\tCAUSE\tERROR")
	for _, r := range rels {
		mark := " "
		if r.Status == wire.ReleaseActive {
			mark = "*"
		}
		fprintf(tw, "%s%d\t%s\t%s\t%s\t%s\t%s\n", mark, r.Number, r.Status, ago(r.Created, now),
			dash(r.Runtime), dash(r.Cause), dash(r.Error))
	}
	return tw.Flush()
}
