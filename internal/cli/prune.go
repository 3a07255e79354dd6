package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/wire"
)

type pruneOptions struct {
	DryRun bool
	Yes    bool
}

func newPruneCmd(g *globals) *cobra.Command {
	var o pruneOptions
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove failed releases' replicas and the images no kept release uses",
		Long: `prune removes the stopped replicas that failed releases keep for their logs
(quai logs INSTANCE --release N), then, on the runtimes that keep images
(docker), the images quai built or pulled that no release a rollback may
start references and no container uses, and says how much it freed. Images quai did not make are
never touched. --dry-run lists them and removes nothing. prune shows the
list and asks for confirmation when a terminal is attached, and otherwise
requires -y.`,
		Example: `  quai prune --dry-run
  quai prune -y`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if !o.DryRun && !o.Yes && !g.interactive() {
				return usageErrorf("prune deletes images for good: pass -y to confirm, or --dry-run to list them, when no terminal is attached")
			}
			c, err := g.client(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			if !o.DryRun && !o.Yes {
				rep, err := c.Prune(ctx, true)
				if err != nil {
					return err
				}
				if len(rep.Images) == 0 && len(rep.FailedReplicas) == 0 {
					return g.printPrune(rep)
				}
				if len(rep.FailedReplicas) > 0 {
					fprintf(g.stdout, "stopped replicas of failed releases: %s\n", strings.Join(rep.FailedReplicas, ", "))
				}
				if err := g.printPruneTable(rep); err != nil {
					return err
				}
				question := fmt.Sprintf("Remove these %d image(s) (%s)?", len(rep.Images), bytesHuman(rep.Bytes))
				if n := len(rep.FailedReplicas); n > 0 {
					question = fmt.Sprintf("Remove these %d image(s) (%s) and %d stopped replica(s) of failed releases?", len(rep.Images), bytesHuman(rep.Bytes), n)
				}
				ok, err := g.confirm(question)
				if err != nil {
					return err
				}
				if !ok {
					return declined("canceled; nothing was removed")
				}
			}
			rep, err := c.Prune(ctx, o.DryRun)
			if err != nil {
				return err
			}
			return g.printPrune(rep)
		},
	}
	dryRunFlag(cmd, &o.DryRun, "list the images that would be removed and remove nothing")
	yesFlag(cmd, &o.Yes)
	return cmd
}

// printPrune prints the report: JSON, or the images and a summary line.
func (g *globals) printPrune(rep wire.PruneReport) error {
	if g.JSON {
		return g.printJSON(rep)
	}
	if len(rep.Images) > 0 {
		if err := g.printPruneTable(rep); err != nil {
			return err
		}
	}
	verb, freed := "removed", "freed"
	if rep.DryRun {
		verb, freed = "would remove", "would free"
	}
	if len(rep.FailedReplicas) > 0 {
		fprintf(g.stdout, "%s %d stopped replica(s) of failed releases, with their logs: %s\n",
			verb, len(rep.FailedReplicas), strings.Join(rep.FailedReplicas, ", "))
	}
	size := bytesHuman(rep.Bytes)
	if rep.Bytes <= 0 {
		size = "0B"
	}
	_, err := fmt.Fprintf(g.stdout, "%s %d image(s), %s %s; %d image reference(s) kept by releases\n",
		verb, len(rep.Images), freed, size, rep.Kept)
	return err
}

func (g *globals) printPruneTable(rep wire.PruneReport) error {
	tw := newTable(g.stdout)
	fprintln(tw, "IMAGE\tTAGS\tSIZE\tRUNTIME")
	for _, im := range rep.Images {
		fprintf(tw, "%s\t%s\t%s\t%s\n", shortImageID(im.ID), dash(strings.Join(im.Tags, ",")), bytesHuman(im.Size), im.Runtime)
	}
	return tw.Flush()
}

// shortImageID is an image id as the docker CLI shows it.
func shortImageID(id string) string {
	s := strings.TrimPrefix(id, "sha256:")
	if len(s) > 12 {
		s = s[:12]
	}
	return s
}
