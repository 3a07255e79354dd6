package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/stack"
)

// configOptions are the flags of `quai config`.
type configOptions struct {
	Dir    string
	Env    string
	Org    string
	Format string
}

func newConfigCmd(g *globals) *cobra.Command {
	opts := configOptions{Dir: ".", Format: "yaml"}
	cmd := &cobra.Command{
		Use:   "config [DIR]",
		Short: "Print the resolved stack: overlays merged, variables interpolated",
		Long: `Load the stack in DIR (default: the current directory) for one environment
and organization — compose.yaml, then envs/ENV.yaml, orgs/ORG/common.yaml and
orgs/ORG/ENV.yaml, interpolated with the environment and .env — validate it,
and print the resulting Compose document, as docker compose config does.

Exit status: 0 when the stack is valid, 2 when it is not, every problem then
listed as file:line:column: key: message (hint: ...); 3 when DIR has no stack.`,
		Example: `  quai config ./shop --env prod --org acme
  quai config -e staging --format json | jq '.services | keys'`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeDirs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Dir = args[0]
			}
			if g.JSON {
				if cmd.Flags().Changed("format") && opts.Format != "json" {
					return usageErrorf("--json and --format %s disagree: use one of them", opts.Format)
				}
				opts.Format = "json"
			}
			return runConfig(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), opts)
		},
	}
	envFlag(cmd, &opts.Env)
	orgFlag(cmd, &opts.Org)
	f := cmd.Flags()
	f.StringVar(&opts.Format, "format", opts.Format, "output format: yaml or json")
	return cmd
}

func runConfig(ctx context.Context, stdout, stderr io.Writer, opts configOptions) error {
	if opts.Format != "yaml" && opts.Format != "json" {
		return usageErrorf("unknown format %q: use yaml or json", opts.Format)
	}
	m, err := loadStack(ctx, "config", stack.Options{Dir: opts.Dir, Env: opts.Env, Org: opts.Org})
	if err != nil {
		return err
	}
	out := m.Resolved
	if opts.Format == "json" {
		if out, err = m.ResolvedJSON(); err != nil {
			return err
		}
	}
	if _, err := stdout.Write(out); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}
