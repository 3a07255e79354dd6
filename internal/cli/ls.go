package cli

import (
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

func newLsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List installed instances",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return show(ctx, g, func(c *client.Client) ([]wire.Instance, error) { return c.Instances(ctx) }, g.printInstances)
		},
	}
}

func (g *globals) printInstances(list []wire.Instance) error {
	if len(list) == 0 {
		fprintln(g.stdout, "no instances; install one with: quai up ./myproject --env dev")
		return nil
	}
	now := time.Now()
	tw := newTable(g.stdout)
	fprintln(tw, "NAME\tSTATE\tRELEASE\tRUNTIME\tUPDATED\tURLS")
	for _, in := range list {
		fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", in.Name, in.State, strconv.Itoa(in.Release),
			dash(in.Runtime), ago(in.Updated, now), dash(strings.Join(in.URLs, " ")))
	}
	return tw.Flush()
}
