package cli

import "github.com/spf13/cobra"

// commands lists every verb; each lives in its own file.
func commands(g *globals) []*cobra.Command {
	return []*cobra.Command{
		newVersionCmd(g),
		newLintCmd(g),
		newRenderCmd(g),
	}
}
