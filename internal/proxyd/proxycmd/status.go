package proxycmd

import (
	"fmt"

	"github.com/spf13/cobra"
)

func statusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the proxy process: pid, version, listeners, route table generation",
		Example: `  quai proxy status
  quai proxy status --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := proxyDir(cmd)
			if err != nil {
				return err
			}
			_, st, err := dial(cmd.Context(), dir)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON(cmd) {
				return printJSON(w, st)
			}
			_, err = fmt.Fprintf(w, "pid %d, quai %s, since %s\nhttp %s, https %s\nroute table generation %d, %d upgrade(s) by handoff\n",
				st.PID, st.Version, st.Started.Format("2006-01-02 15:04:05"), orOff(st.HTTPAddr), orOff(st.HTTPSAddr), st.Generation, st.Upgrades)
			return err
		},
	}
}

func orOff(s string) string {
	if s == "" {
		return "off"
	}
	return s
}
