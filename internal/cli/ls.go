package cli

import (
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newLsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List installed instances",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := g.client(ctx)
			if err != nil {
				return withCode(ExitError, err)
			}
			defer c.Close()
			list, err := c.Instances(ctx)
			if err != nil {
				return withCode(ExitError, err)
			}
			if g.JSON {
				return g.printJSON(list)
			}
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
		},
	}
}
