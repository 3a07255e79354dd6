package proxycmd

import (
	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/proxyd"
)

func runCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run the proxy process in the foreground (the daemon starts it)",
		Long: `run serves the proxy with the configuration the daemon wrote
(DATA_DIR/proxy/config.json) and the last route table it pushed
(DATA_DIR/proxy/routes.json), until SIGTERM or quai proxy stop, then
drains in-flight requests and WebSocket tunnels (30s at most). The daemon
starts it; run it by hand to serve the last table while no daemon runs.`,
		Example: `  quai proxy run
  quai --data-dir /srv/quai proxy run`,
		Args:   cobra.NoArgs,
		Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := proxyDir(cmd)
			if err != nil {
				return err
			}
			return proxyd.Run(cmd.Context(), proxyd.RunOptions{Dir: dir, Stderr: cmd.ErrOrStderr()})
		},
	}
}
