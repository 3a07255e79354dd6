package proxycmd

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/proxyd"
)

func stopCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "stop",
		Short: "Stop the proxy process after it drained (stop the daemon first)",
		Long: `stop asks the proxy process to stop accepting, finish in-flight requests
and WebSocket tunnels (30s at most) and exit; the apps it routes are then
unreachable. A daemon that runs starts a new proxy process within
seconds: to stop everything, stop the daemon first.`,
		Example: `  systemctl stop quai && quai proxy stop   # everything: the daemon, then the proxy`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := proxyDir(cmd)
			if err != nil {
				return err
			}
			c, st, err := dial(cmd.Context(), dir)
			if err != nil {
				return err
			}
			if _, err := c.Stop(cmd.Context()); err != nil {
				return err
			}
			// It is gone once its socket no longer answers.
			for i := 0; i < 400; i++ {
				if _, err := c.Status(cmd.Context()); err != nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if asJSON(cmd) {
				return printJSON(cmd.OutOrStdout(), proxyd.Status{PID: st.PID})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "proxy process %d stopped\n", st.PID)
			return err
		},
	}
}
