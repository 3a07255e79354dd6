package proxycmd

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

type upgradeOptions struct {
	Executable string
}

func upgradeCommand() *cobra.Command {
	var o upgradeOptions
	cmd := &cobra.Command{
		Use:   "upgrade",
		Short: "Hand the proxy's listening sockets to a new proxy process, then drain the old one",
		Long: `upgrade starts a new proxy process from a quai binary (by default this
one) that inherits the listening sockets, the control socket and the route
table: it serves at once, then the old process stops accepting, finishes
in-flight requests and WebSocket tunnels (30s at most) and exits. No
connection is refused meanwhile.`,
		Example: `  quai proxy upgrade                           # to the quai binary running this command
  quai proxy upgrade --executable /usr/local/bin/quai`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := proxyDir(cmd)
			if err != nil {
				return err
			}
			exe := o.Executable
			if exe == "" {
				if exe, err = os.Executable(); err != nil {
					return err
				}
			}
			if exe, err = filepath.Abs(exe); err != nil {
				return err
			}
			c, _, err := dial(cmd.Context(), dir)
			if err != nil {
				return err
			}
			res, err := c.Upgrade(cmd.Context(), exe)
			if err != nil {
				return fmt.Errorf("upgrade the proxy process: %w", err)
			}
			if asJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), res)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "proxy process %d took over from %d, which drains and exits\n", res.NewPID, res.OldPID)
			return err
		},
	}
	cmd.Flags().StringVar(&o.Executable, "executable", "", "quai binary the new proxy process runs (default this one)")
	return cmd
}
