package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/lint"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/version"
)

// lintOptions are the flags of `quai lint`.
type lintOptions struct {
	Dir    string
	Env    string
	Org    string
	Format string
	FailOn string
	// Rules lists the rules instead of checking a stack.
	Rules bool
}

func newLintCmd(g *globals) *cobra.Command {
	opts := lintOptions{Dir: ".", Format: string(lint.FormatText), FailOn: string(lint.SeverityError)}
	cmd := &cobra.Command{
		Use:   "lint [DIR]",
		Short: "Check a stack against security and reliability rules",
		Long: `Load the stack in DIR (default: the current directory) for one environment
and organization, as quai up would, and check it against quai's lint rules.

Exit status: 0 when no finding is at or above --fail-on, 1 when one is, 2 when
the stack is invalid, 3 when DIR has no stack (quai --help lists every code). Silence a rule for one service, with a reason, in
its x-quai.lint.ignore list. The rules and their fixes: quai lint --rules, or
docs/lint-rules.md.`,
		Example: `  quai lint ./shop --env prod
  quai lint -e staging --org acme --fail-on warning
  quai lint --format sarif > quai.sarif
  quai lint --rules`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeDirs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Dir = args[0]
			}
			if g.JSON {
				if cmd.Flags().Changed("format") && opts.Format != string(lint.FormatJSON) {
					return usageErrorf("--json and --format %s disagree: use one of them", opts.Format)
				}
				opts.Format = string(lint.FormatJSON)
			}
			return runLint(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), opts)
		},
	}
	envFlag(cmd, &opts.Env)
	orgFlag(cmd, &opts.Org)
	f := cmd.Flags()
	f.StringVar(&opts.Format, "format", opts.Format, "output format: text, json or sarif")
	f.StringVar(&opts.FailOn, "fail-on", opts.FailOn, "exit 1 when a finding is at least this severe: error, warning or info")
	f.BoolVar(&opts.Rules, "rules", false, "list the rules instead of checking a stack")
	return cmd
}

func runLint(ctx context.Context, stdout, stderr io.Writer, opts lintOptions) error {
	format, err := lint.ParseFormat(opts.Format)
	if err != nil {
		return &usageError{err}
	}
	if opts.Rules {
		if format == lint.FormatText {
			return lint.WriteRulesText(stdout, lint.Rules())
		}
		return lint.WriteRulesJSON(stdout, lint.Rules())
	}
	failOn, err := lint.ParseSeverity(opts.FailOn)
	if err != nil {
		return usageErrorf("--fail-on: %w", err)
	}

	m, err := loadStack(ctx, "lint", stack.Options{Dir: opts.Dir, Env: opts.Env, Org: opts.Org})
	if err != nil {
		return err
	}
	src, err := lint.ReadSources(m)
	if err != nil {
		// Without the raw values every secret-looking value counts as literal:
		// more findings, never fewer.
		if _, werr := fmt.Fprintf(stderr, "warning: %v; secret rules treat every value as a literal\n", err); werr != nil {
			return werr
		}
		src = nil
	}
	findings := lint.Check(m, lint.Options{Sources: src})
	if err := lint.Write(stdout, format, lint.Report{Findings: findings, Dir: m.Dir, ToolVersion: version.Get().Version}); err != nil {
		return fmt.Errorf("write lint report: %w", err)
	}
	if lint.Exceeds(findings, failOn) {
		return withCode(ExitFindings, nil)
	}
	return nil
}
