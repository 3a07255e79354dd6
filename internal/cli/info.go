package cli

import (
	"strings"

	"github.com/spf13/cobra"
)

func newInfoCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "info",
		Short: "Show the daemon of the context in use: version, addresses, runtimes, the API's fingerprint",
		Long: `info asks the daemon of the context in use what it is: its version, data
directory, socket, proxy addresses and runtimes, and, when it serves the API
over TLS (quai serve --listen), the address and the SHA-256 fingerprint of
the CA clients pin with ` + "`quai login --fingerprint`" + `.`,
		Example: `  quai info
  quai info --json
  quai --context staging info`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			info, err := c.Info(cmd.Context())
			if err != nil {
				return err
			}
			if g.JSON {
				return g.printJSON(info)
			}
			tw := newTable(g.stdout)
			row := func(k, v string) {
				if v != "" {
					fprintf(tw, "%s\t%s\n", k, v)
				}
			}
			row("daemon:", c.Where())
			row("version:", strings.TrimSpace(info.Version+" "+info.Commit))
			row("data dir:", info.DataDir)
			row("socket:", info.Socket)
			row("proxy http:", info.HTTPAddr)
			row("proxy https:", info.HTTPSAddr)
			row("runtimes:", strings.Join(info.Runtimes, ", "))
			row("api listen:", info.APIAddr)
			row("api fingerprint:", info.APIFingerprint)
			for _, w := range info.Warnings {
				row("warning:", w)
			}
			return tw.Flush()
		},
	}
}
