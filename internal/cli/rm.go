package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/wire"
)

type rmOptions struct {
	Purge bool
	Yes   bool
}

func newRmCmd(g *globals) *cobra.Command {
	var o rmOptions
	cmd := &cobra.Command{
		Use:     "rm INSTANCE",
		Aliases: []string{"remove"},
		Short:   "Remove an instance (its volumes and data too with --purge)",
		Long: `rm stops and removes an instance and forgets its releases. Its volumes and
data are kept unless --purge is given; its backups are always kept (quai
backup ls lists them, quai up --from-backup brings the data back). rm asks for confirmation when a
terminal is attached (--purge: type the instance's name) and otherwise
requires -y.`,
		Example: `  quai rm shop-dev                 # asks, keeps volumes and data
  quai rm shop-dev -y              # without a terminal
  quai rm shop-dev --purge         # asks you to type shop-dev`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeInstance(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name := args[0]
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
			if !o.Yes {
				// Check the name first so a typo is not answered with a prompt.
				if _, err := c.Status(ctx, name); err != nil {
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
				fprintf(g.stderr, "This deletes %s with its volumes and data; it cannot be undone (its backups are kept).\n", name)
				if _, err := g.askUntil("Type the instance name to confirm: ", "the name did not match", "nothing was removed",
					func(s string) bool { return s == name }); err != nil {
					return err
				}
			}
			_, err = g.runOperation(func(emit wire.Emitter) (wire.Event, error) {
				return c.Remove(ctx, name, o.Purge, emit)
			})
			return err
		},
	}
	cmd.Flags().BoolVar(&o.Purge, "purge", false, "also delete the instance's volumes and data")
	yesFlag(cmd, &o.Yes)
	return cmd
}
