package cli

import (
	"slices"
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
		Example: `  quai ls
  quai ls --json | jq -r '.[].name'`,
		Args: cobra.NoArgs,
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
	// The backup column shows once an instance has backups.
	withBackup := slices.ContainsFunc(list, func(in wire.Instance) bool { return in.Backup != nil })
	header := []string{"NAME", "STATE", "RELEASE", "RUNTIME", "UPDATED", "URLS"}
	if withBackup {
		header = slices.Insert(header, 5, "BACKUP")
	}
	rows, bad := [][]string{header}, []bool{false}
	for _, in := range list {
		row := []string{in.Name, string(in.State), strconv.Itoa(in.Release), dash(in.Runtime), ago(in.Updated, now), dash(strings.Join(in.URLs, " "))}
		failing := false
		if withBackup {
			var b string
			b, failing = backupSummary(in.Backup, now)
			row = slices.Insert(row, 5, b)
		}
		rows, bad = append(rows, row), append(bad, failing)
	}
	g.writeRows(rows, bad)
	return nil
}
