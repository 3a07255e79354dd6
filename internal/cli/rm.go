package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

type rmOptions struct {
	Purge        bool
	PurgeBackups bool
	KeepBackups  bool
	Yes          bool
	projectFlags
}

func newRmCmd(g *globals) *cobra.Command {
	var o rmOptions
	cmd := &cobra.Command{
		Use:     "rm [INSTANCE]",
		Aliases: []string{"remove"},
		Short:   "Remove an instance (its volumes and data too with --purge)",
		Long: `rm stops and removes an instance and forgets its releases. Its volumes and
data are kept unless --purge is given. Its backups are kept unless rm --purge
is also told to delete them: a terminal is asked separately (default no),
scripts pass --purge-backups or --keep-backups; without either and without a
terminal they are kept. Kept backups stay listed by quai backup ls, and quai
up --from-backup brings the data back. rm asks for confirmation when a
terminal is attached (--purge: it lists the volumes it deletes with their
sizes, then asks you to type the instance's name) and otherwise requires -y.

rm --purge also deletes what an earlier rm kept of an instance: its volumes
and data (quai volumes ls lists them). Without INSTANCE, rm acts on the
instance the project around the current directory deploys for -e/--env and
--org.`,
		Example: `  quai rm shop-dev                                # asks, keeps volumes and data
  quai rm shop-dev -y                             # without a terminal
  quai rm shop-dev --purge                        # asks you to type shop-dev, then about its backups
  quai rm shop-dev --purge --keep-backups -y      # scripts: data gone, backups kept
  quai rm shop-dev --purge --purge-backups -y     # scripts: data and backups gone
  quai rm shop-dev --purge                        # after a plain rm: the volumes it kept`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: g.completeInstance(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, err := resolveInstance(ctx, "rm", firstArg(args), o.projectFlags)
			if err != nil {
				return err
			}
			return t.explain(g.remove(ctx, t.Name, o))
		},
	}
	cmd.Flags().BoolVar(&o.Purge, "purge", false, "also delete the instance's volumes and data (or those an earlier rm kept)")
	cmd.Flags().BoolVar(&o.PurgeBackups, "purge-backups", false, "with --purge: also delete the instance's backups, without asking")
	cmd.Flags().BoolVar(&o.KeepBackups, "keep-backups", false, "with --purge: keep the instance's backups, without asking (the default)")
	cmd.MarkFlagsMutuallyExclusive("purge-backups", "keep-backups")
	yesFlag(cmd, &o.Yes)
	o.flags(cmd)
	return cmd
}

// remove is rm: confirm (listing what a purge deletes), remove, then
// delete or keep the backups.
func (g *globals) remove(ctx context.Context, name string, o rmOptions) error {
	if o.PurgeBackups && !o.Purge {
		return usageErrorf("--purge-backups deletes backups only with --purge; plain rm never deletes them")
	}
	if !o.Yes && !g.interactive() {
		if o.Purge {
			return usageErrorf("rm --purge deletes %s with its volumes and data for good: pass -y to confirm when no terminal is attached", name)
		}
		return usageErrorf("rm stops %s and forgets its releases (its data is kept): pass -y to confirm when no terminal is attached", name)
	}
	c, err := g.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	var what removal
	if !o.Yes {
		// Check the name first so a typo is not answered with a prompt.
		if what, err = removalTarget(ctx, c, name, o); err != nil {
			return err
		}
	}
	switch {
	case o.Yes:
	case !o.Purge:
		ok, err := g.confirm(fmt.Sprintf("Remove %s? Its replicas stop and its releases are forgotten; its volumes and data are kept.", name))
		if err != nil {
			return err
		}
		if !ok {
			return declined("canceled; nothing was removed")
		}
	default:
		fprint(g.stderr, what.purgeText(name))
		if _, err := g.askUntil("Type the instance name to confirm: ", "the name did not match", "nothing was removed",
			func(s string) bool { return s == name }); err != nil {
			return err
		}
	}
	var backups backupsOf
	if o.Purge {
		backups = instanceBackups(ctx, c, name)
	}
	deleteBackups, err := o.deleteBackups(g, name, backups)
	if err != nil {
		return err
	}
	if _, err = g.runOperation(func(emit wire.Emitter) (wire.Event, error) {
		return c.Remove(ctx, name, o.Purge, emit)
	}); err != nil {
		return err
	}
	switch {
	case deleteBackups:
		// After the removal, so a scheduled backup that ran meanwhile
		// is deleted too.
		_, err = g.runOperation(func(emit wire.Emitter) (wire.Event, error) {
			return c.ForgetBackups(ctx, name, emit)
		})
		return err
	case backups.count > 0 && !g.JSON:
		fprintf(g.stderr, "%s of %s kept (`quai backup ls %s` lists them; `quai up --from-backup` restores them)\n", backups, name, name)
	}
	return nil
}

// removal is what rm is about to remove.
type removal struct {
	installed bool
	// vols are the volumes a purge deletes; listErr why they could not
	// be listed.
	vols    []wire.Volume
	listErr error
	// backupsKept: this removal never deletes backups (volumes rm).
	backupsKept bool
}

// removalTarget tells whether name is installed and, for a purge, lists
// the volumes it deletes. A name that is not installed is an error, unless
// an earlier rm kept its volumes and this is a purge.
func removalTarget(ctx context.Context, c *client.Client, name string, o rmOptions) (removal, error) {
	_, serr := c.Status(ctx, name)
	if serr != nil && !errors.Is(serr, client.ErrNotFound) {
		return removal{}, serr
	}
	r := removal{installed: serr == nil}
	if r.installed && !o.Purge {
		return r, nil
	}
	l, err := c.Volumes(ctx, name)
	switch {
	case err == nil:
		r.vols = l.Volumes
		if len(l.Errors) > 0 {
			r.listErr = errors.New(strings.Join(l.Errors, "; "))
		}
	case r.installed:
		r.listErr = err
		return r, nil
	default:
		return removal{}, serr
	}
	switch {
	case r.installed:
		return r, nil
	case len(r.vols) == 0:
		return removal{}, serr
	case !o.Purge:
		return removal{}, fmt.Errorf("%s was removed earlier and its volumes kept (%s): quai rm --purge %s deletes them: %w",
			name, volumeNames(r.vols), name, client.ErrNotFound)
	}
	return r, nil
}

// purgeText is what rm --purge says before it asks for the name: exactly
// what goes.
func (r removal) purgeText(name string) string {
	var b strings.Builder
	if r.installed {
		fmt.Fprintf(&b, "This deletes %s for good: its replicas, routes and releases, and\n", name)
	} else {
		fmt.Fprintf(&b, "%s was removed earlier; this deletes for good what it kept:\n", name)
	}
	switch {
	case r.listErr != nil:
		fmt.Fprintf(&b, "  every volume it has (quai could not list them: %v)\n", r.listErr)
	case len(r.vols) == 0:
		b.WriteString("  no volumes (its runtime keeps none)\n")
	}
	tw := newTable(&b)
	for _, v := range r.vols {
		size := "size unknown"
		switch {
		case v.Bytes == 0:
			size = "empty"
		case v.Bytes > 0:
			size = bytesHuman(v.Bytes)
		}
		fprintf(tw, "  volume %s\t%s\t(%s runtime)\n", v.Name, size, v.Runtime)
	}
	_ = tw.Flush()
	b.WriteString("  the secret values quai generated for it, if any\n")
	if r.backupsKept {
		b.WriteString("This cannot be undone. Its backups are kept.\n")
	} else {
		b.WriteString("This cannot be undone. Its backups are a separate question.\n")
	}
	return b.String()
}

// volumeNames lists volumes by name, comma-separated.
func volumeNames(vols []wire.Volume) string {
	names := make([]string, 0, len(vols))
	for _, v := range vols {
		names = append(names, v.Name)
	}
	return strings.Join(names, ", ")
}

// deleteBackups decides whether rm also deletes the instance's backups:
// only with --purge, then --purge-backups or --keep-backups when given,
// otherwise a question (default no) when there are backups and rm may ask.
func (o rmOptions) deleteBackups(g *globals, name string, b backupsOf) (bool, error) {
	switch {
	case !o.Purge || o.KeepBackups:
		return false, nil
	case o.PurgeBackups:
		return true, nil
	case b.count == 0 || o.Yes:
		return false, nil
	}
	return g.confirm(fmt.Sprintf("Also delete %s of %s? This cannot be undone.", b, name))
}

// backupsOf is how many backups an instance has and their size.
type backupsOf struct {
	count int
	bytes int64
}

func (b backupsOf) String() string {
	noun := "backups"
	if b.count == 1 {
		noun = "backup"
	}
	return fmt.Sprintf("%d %s (%s)", b.count, noun, bytesHuman(b.bytes))
}

// instanceBackups counts the instance's backups the daemon knows of; none
// when the daemon keeps no backups.
func instanceBackups(ctx context.Context, c *client.Client, name string) backupsOf {
	var b backupsOf
	l, err := c.Backups(ctx, name)
	if err != nil {
		return b
	}
	for _, r := range l.Runs {
		if r.Snapshot != "" && (r.Status == wire.BackupDone || r.Status == wire.BackupInterrupted) {
			b.count++
			b.bytes += r.Bytes
		}
	}
	return b
}
