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
		Long: `ls lists the installed instances you may see, with their state, active
release, runtime and URLs.

The daemon answers from what it knows of each instance without asking the
runtime, so that listing a thousand instances stays fast: a state is the one
its last status check found, computed again at once after an operation on the
instance or a crash of one of its replicas, and at most 30 seconds old
otherwise. quai status NAME asks the runtime now.`,
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
