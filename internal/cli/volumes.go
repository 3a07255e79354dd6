package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

func newVolumesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "volumes",
		Short: "List the volumes quai keeps, and delete those of removed instances",
		Long: `volumes lists the volumes of installed instances ("in use") and those an
rm without --purge kept ("kept"), with their sizes where the runtime can
tell. quai volumes rm deletes what an earlier rm kept; quai up of the same
instance uses the kept volumes again instead.`,
		Example: `  quai volumes ls
  quai volumes rm shop-dev`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newVolumesLsCmd(g), newVolumesRmCmd(g))
	return cmd
}

func newVolumesLsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "ls [INSTANCE]",
		Short: "List the volumes of every instance, or of one, removed ones included",
		Example: `  quai volumes ls
  quai volumes ls shop-dev --json`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: g.completeInstance(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return show(ctx, g, func(c *client.Client) (wire.VolumeList, error) { return c.Volumes(ctx, firstArg(args)) },
				func(l wire.VolumeList) error { return g.printVolumes(l, time.Now()) })
		},
	}
}

func (g *globals) printVolumes(l wire.VolumeList, now time.Time) error {
	for _, e := range l.Errors {
		fprintf(g.stderr, "warning: %s\n", e)
	}
	if len(l.Volumes) == 0 {
		fprintln(g.stdout, "no volumes")
		return nil
	}
	tw := newTable(g.stdout)
	fprintln(tw, "INSTANCE\tVOLUME\tSIZE\tSTATE\tRUNTIME")
	for _, v := range l.Volumes {
		size := "?"
		if v.Bytes >= 0 {
			size = bytesHuman(v.Bytes)
		}
		state := string(v.State)
		if v.State == wire.VolumeKept {
			state = "kept (removed " + ago(v.Removed, now) + ")"
		}
		fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Instance, v.Name, size, state, v.Runtime)
	}
	return tw.Flush()
}

type volumesRmOptions struct {
	Yes bool
}

func newVolumesRmCmd(g *globals) *cobra.Command {
	var o volumesRmOptions
	cmd := &cobra.Command{
		Use:   "rm INSTANCE",
		Short: "Delete the volumes an earlier rm of INSTANCE kept",
		Long: `volumes rm deletes, for good, the volumes and data that quai rm (without
--purge) kept of INSTANCE, and the secret values quai generated for it; it
is quai rm --purge for an instance removed already, backups aside (they are
kept; quai backup ls lists them). An installed instance's volumes are in
use: quai rm --purge removes it with them. It lists what it deletes and
asks for the instance's name when a terminal is attached, and otherwise
requires -y.`,
		Example: `  quai volumes rm shop-dev
  quai volumes rm shop-dev -y`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeKept,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.purgeVolumes(cmd.Context(), args[0], o)
		},
	}
	yesFlag(cmd, &o.Yes)
	return cmd
}

func (g *globals) purgeVolumes(ctx context.Context, name string, o volumesRmOptions) error {
	if !o.Yes && !g.interactive() {
		return usageErrorf("volumes rm deletes the kept volumes of %s for good: pass -y to confirm when no terminal is attached", name)
	}
	return g.withClient(ctx, func(c *client.Client) error {
		if !o.Yes {
			l, err := c.Volumes(ctx, name)
			if err != nil {
				return err
			}
			r := removal{backupsKept: true}
			for _, v := range l.Volumes {
				if v.State == wire.VolumeInUse {
					return usageErrorf("%s is installed and uses its volumes: quai rm --purge %s removes it with them", name, name)
				}
				r.vols = append(r.vols, v)
			}
			if len(l.Errors) > 0 {
				r.listErr = fmt.Errorf("%s", strings.Join(l.Errors, "; "))
			}
			fprint(g.stderr, r.purgeText(name))
			if _, err := g.askUntil("Type the instance name to confirm: ", "the name did not match", "nothing was deleted",
				func(s string) bool { return s == name }); err != nil {
				return err
			}
		}
		_, err := g.runOperation(func(emit wire.Emitter) (wire.Event, error) {
			return c.PurgeVolumes(ctx, name, emit)
		})
		return err
	})
}

// completeKept completes the instances whose volumes an rm kept.
func (g *globals) completeKept(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return g.completeNames(func(ctx context.Context, c *client.Client) ([]string, error) {
		l, err := c.Volumes(ctx, "")
		var names []string
		for _, v := range l.Volumes {
			if v.State == wire.VolumeKept {
				names = append(names, v.Instance)
			}
		}
		return names, err
	})
}
