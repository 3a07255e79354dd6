package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

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
	// Runtime, when set, also reports what that runtime will ignore,
	// change or refuse of the stack, as the daemon plans it.
	Runtime string
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
docs/lint-rules.md.

With --runtime, lint also asks the daemon (starting a local one if needed)
what that runtime will ignore, change (QL035) or refuse (QL036) of the stack
on its host: the list quai up prints under its plan.`,
		Example: `  quai lint ./shop --env prod
  quai lint -e staging --org acme --fail-on warning
  quai lint --runtime process        # and what the process runtime will ignore or refuse
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
			return runLint(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), opts, g.runtimeNotes)
		},
	}
	envFlag(cmd, &opts.Env)
	orgFlag(cmd, &opts.Org)
	f := cmd.Flags()
	f.StringVar(&opts.Format, "format", opts.Format, "output format: text, json or sarif")
	f.StringVar(&opts.FailOn, "fail-on", opts.FailOn, "exit 1 when a finding is at least this severe: error, warning or info")
	f.BoolVar(&opts.Rules, "rules", false, "list the rules instead of checking a stack")
	f.StringVar(&opts.Runtime, "runtime", "", "also report what this runtime (process, docker or kubernetes) will ignore, change or refuse of the stack; asks the daemon")
	return cmd
}

// runtimeNotes asks the daemon's plan for m on runtimeName what that
// runtime will ignore, change or refuse.
func (g *globals) runtimeNotes(ctx context.Context, m *stack.Model, runtimeName string) ([]lint.RuntimeNote, error) {
	c, err := g.client(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	payload, err := g.modelPayload(ctx, c, m)
	if err != nil {
		return nil, err
	}
	plan, err := c.Plan(ctx, payload, runtimeName)
	if err != nil {
		return nil, fmt.Errorf("ask the daemon what the %s runtime does with the stack: %w", runtimeName, err)
	}
	notes := make([]lint.RuntimeNote, 0, len(plan.Findings))
	for _, f := range plan.Findings {
		notes = append(notes, lint.RuntimeNote{Service: f.Service, Setting: f.Setting, Verdict: f.Verdict, Message: f.Message})
	}
	return notes, nil
}

// notesFunc is how lint learns what a runtime does with the stack.
type notesFunc func(ctx context.Context, m *stack.Model, runtimeName string) ([]lint.RuntimeNote, error)

func runLint(ctx context.Context, stdout, stderr io.Writer, opts lintOptions, notes notesFunc) error {
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
	lo := lint.Options{Sources: src}
	if opts.Runtime != "" {
		if !slices.Contains(runtimeNames, opts.Runtime) {
			return usageErrorf("--runtime %s: no such runtime; use %s", opts.Runtime, strings.Join(runtimeNames, ", "))
		}
		if lo.Runtime, err = notes(ctx, m, opts.Runtime); err != nil {
			return err
		}
		lo.RuntimeName = opts.Runtime
	}
	findings := lint.Check(m, lo)
	if err := lint.Write(stdout, format, lint.Report{Findings: findings, Dir: m.Dir, ToolVersion: version.Get().Version}); err != nil {
		return fmt.Errorf("write lint report: %w", err)
	}
	if lint.Exceeds(findings, failOn) {
		return withCode(ExitFindings, nil)
	}
	return nil
}
