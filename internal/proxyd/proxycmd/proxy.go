// Package proxycmd is the `quai proxy` verbs: run (the proxy process the
// daemon starts), status, stop and upgrade. It lives beside the proxy
// process (internal/proxyd) rather than in internal/cli so that the CLI
// links no proxy code; cmd/quai hands it to the CLI as it does `quai serve`.
package proxycmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/datadir"
	"github.com/quai-dev/quai/internal/proxyd"
)

// Command returns `quai proxy` and its verbs. It reads the CLI's shared
// flags (--data-dir, --json) from its parent.
func Command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Run, inspect, stop or upgrade the proxy process",
		Long: `The proxy runs in its own process, apart from the daemon: it holds the
HTTP and HTTPS listeners and the last route table (DATA_DIR/proxy), so
that stopping, restarting or upgrading the daemon drops no request. The
daemon starts it, or adopts the one that runs, and pushes route tables to
it over DATA_DIR/proxy/ctl.sock.

Stopping the daemon leaves the proxy serving; to stop everything, stop
the daemon, then run quai proxy stop. quai proxy upgrade hands the
listening sockets to a new proxy process (a newly installed quai) without
refusing a connection; the old one finishes what is in flight and exits.`,
		Example: `  quai proxy status
  quai proxy upgrade
  quai proxy stop`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(runCommand(), statusCommand(), stopCommand(), upgradeCommand())
	return cmd
}

// proxyDir is DATA_DIR/proxy from the shared --data-dir flag.
func proxyDir(cmd *cobra.Command) (string, error) {
	flagDir, _ := cmd.Flags().GetString("data-dir")
	dir, err := datadir.Resolve(flagDir, os.Getenv, os.Geteuid())
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "proxy"), nil
}

func asJSON(cmd *cobra.Command) bool {
	v, _ := cmd.Flags().GetBool("json")
	return v
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// dial is a client of the running proxy, or an error saying none runs.
func dial(ctx context.Context, dir string) (*proxyd.Client, proxyd.Status, error) {
	c := proxyd.Dial(dir)
	st, err := c.Status(ctx)
	if err != nil {
		return nil, st, fmt.Errorf("%w (%s); the daemon starts it (quai serve)", proxyd.ErrNotRunning, proxyd.SocketPath(dir))
	}
	return c, st, nil
}
