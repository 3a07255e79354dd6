package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/datadir"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// Exit codes shared by every verb. ExitCodes describes them; exitCode is
// the only place that decides which one an error gets.
const (
	ExitOK = 0
	// ExitFailed: the command ran and failed (an operation failed, the
	// daemon refused), or found problems (lint findings).
	ExitFailed   = 1
	ExitFindings = ExitFailed
	// ExitUsage: what quai was given is wrong: the command line (an unknown
	// verb or flag, a missing argument) or the stack file. Nothing was done.
	ExitUsage = 2
	// ExitNotFound: an instance, service, release or project directory
	// does not exist.
	ExitNotFound = 3
	// ExitUnavailable: the daemon, or the engine of a runtime (Docker,
	// Kubernetes, a binary the process runtime needs), cannot be reached.
	ExitUnavailable = 4
	// ExitDeclined: the user said no at a prompt, or gave no valid answer.
	ExitDeclined = 5
	// ExitLocked: serve only: another quai daemon holds the data directory.
	// A verb that started that serve waits for the other daemon instead.
	ExitLocked = 75
	// ExitInterrupted: Ctrl-C or SIGTERM stopped the command (128 + SIGINT).
	ExitInterrupted = 130

	// ExitError is the code of a command that could not do its job; it is
	// ExitFailed.
	ExitError = ExitFailed
)

// Error codes of the CLI's JSON errors that the API has no code for; the
// rest are the API's own (wire.CodeNotFound...).
const (
	codeUsage    = "usage"
	codeDeclined = "declined"
	codeFailed   = "failed"
	codeLocked   = "locked"
)

// ExitCode is one row of the exit code table.
type ExitCode struct {
	Code int
	// ErrorCodes are the "code"s of the JSON errors printed under --json
	// with this exit code, the CLI's own first.
	ErrorCodes []string
	Meaning    string
}

// ExitCodes is the table of quai's exit codes, as the root's help and
// docs/cli.md print it.
var ExitCodes = []ExitCode{
	{ExitOK, nil, "success"},
	{ExitFailed, []string{codeFailed, wire.CodeBusy, wire.CodePlanChanged, wire.CodeForbidden, wire.CodeUnsupported, wire.CodeKeyInUse, wire.CodeWrongPassphrase, wire.CodeInternal},
		"the command ran and failed (an operation failed, the daemon refused), or lint found problems at or above --fail-on"},
	{ExitUsage, []string{codeUsage, wire.CodeInvalid}, "the command line (unknown verb or flag, wrong arguments) or the stack file is wrong; nothing was done"},
	{ExitNotFound, []string{wire.CodeNotFound, wire.CodeNoRelease}, "no such instance, service, release or project directory"},
	{ExitUnavailable, []string{wire.CodeUnavailable, wire.CodeMissingDependency}, "the daemon, or a runtime's engine or a binary it needs, cannot be reached"},
	{ExitDeclined, []string{codeDeclined}, "the answer at a prompt was no, or no valid answer came"},
	{ExitLocked, []string{codeLocked}, "serve only: another quai daemon holds the data directory"},
	{ExitInterrupted, []string{wire.CodeCanceled}, "interrupted by Ctrl-C or SIGTERM"},
}

// exitCodesHelp is ExitCodes as a help section.
func exitCodesHelp() string {
	var b strings.Builder
	b.WriteString("Exit status:\n")
	for _, c := range ExitCodes {
		fmt.Fprintf(&b, "  %-4d %s\n", c.Code, c.Meaning)
	}
	b.WriteString("With --json, an error is printed on stderr as {\"error\": {\"code\", \"message\", \"hint\"}}.")
	return b.String()
}

// exitError carries an exit code out of a cobra RunE. shown says that err
// was already rendered for a human (a failed operation's last event), so
// only --json prints it again, as a JSON error.
type exitError struct {
	code  int
	err   error
	shown bool
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// withCode makes a RunE error exit with code; a nil err exits silently.
func withCode(code int, err error) error { return &exitError{code: code, err: err} }

// usageError is a wrong command line: an unknown flag, a missing argument,
// flags that contradict each other.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf is a usage error with a message of its own.
func usageErrorf(format string, a ...any) error {
	return &usageError{fmt.Errorf(format, a...)}
}

// ErrDeclined is matched by the error of a verb whose prompt was answered
// no, or not validly answered.
var ErrDeclined = errors.New("declined")

// declined is ErrDeclined with what was not done.
func declined(msg string) error { return &wrappedError{msg: msg, err: ErrDeclined} }

// exitCode decides the exit code of a verb's error and the code of its
// JSON form. interrupted says the verb's context was canceled by a signal.
func exitCode(err error, interrupted bool) (int, string) {
	var ee *exitError
	var ae *client.APIError
	switch {
	case err == nil:
		return ExitOK, ""
	case errors.As(err, &ee) && ee.code != ExitFailed:
		// A verb's own decision (exec passes on its command's code) wins,
		// but a failure while interrupted is the interruption.
		return ee.code, codeFor(ee.code)
	case interrupted:
		return ExitInterrupted, wire.CodeCanceled
	case errors.Is(err, ErrDeclined):
		return ExitDeclined, codeDeclined
	case errors.As(err, new(*usageError)):
		return ExitUsage, codeUsage
	case errors.Is(err, datadir.ErrLocked):
		return ExitLocked, codeLocked
	case errors.Is(err, client.ErrDaemonNotRunning):
		return ExitUnavailable, wire.CodeUnavailable
	case errors.As(err, &ae):
		switch ae.Code {
		case wire.CodeNotFound, wire.CodeNoRelease:
			return ExitNotFound, ae.Code
		case wire.CodeInvalid:
			return ExitUsage, ae.Code
		case wire.CodeUnavailable, wire.CodeMissingDependency:
			return ExitUnavailable, ae.Code
		}
		return ExitFailed, ae.Code
	case errors.Is(err, client.ErrNotFound), errors.Is(err, stack.ErrNoComposeFile), errors.Is(err, fs.ErrNotExist):
		return ExitNotFound, wire.CodeNotFound
	case errors.Is(err, stack.ErrInvalid):
		return ExitUsage, wire.CodeInvalid
	}
	return ExitFailed, codeFailed
}

// codeFor is the JSON error code of an exit code a verb chose itself.
func codeFor(code int) string {
	for _, c := range ExitCodes {
		if c.Code == code && len(c.ErrorCodes) > 0 {
			return c.ErrorCodes[0]
		}
	}
	return codeFailed
}

// report prints err as the verb's last word: "error: ..." on stderr, or
// with --json the API's error shape, and returns the exit code. cmd is the
// verb that failed, for the usage hint.
func report(stderr io.Writer, asJSON bool, cmd *cobra.Command, err error, interrupted bool) int {
	code, errCode := exitCode(err, interrupted)
	if err == nil {
		return code
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err == nil {
			return code
		}
		if ee.shown && !asJSON {
			return code
		}
	}
	msg, hint := strings.TrimRight(err.Error(), "\n"), ""
	var ae *client.APIError
	if errors.As(err, &ae) {
		msg, hint = ae.Message, ae.Hint
		var xe *explainedError
		if errors.As(err, &xe) {
			msg = xe.msg
		}
	}
	if code == ExitUsage && errors.As(err, new(*usageError)) && cmd != nil {
		hint = fmt.Sprintf("`%s --help` shows how to use it", cmd.CommandPath())
	}
	if asJSON {
		b, _ := json.Marshal(wire.ErrorBody{Error: wire.ErrorDetail{Code: errCode, Message: msg, Hint: hint}})
		_, _ = fmt.Fprintf(stderr, "%s\n", b)
		return code
	}
	switch {
	case code == ExitDeclined:
		_, _ = fmt.Fprintln(stderr, msg)
	case hint != "":
		_, _ = fmt.Fprintf(stderr, "error: %s\n  %s\n", msg, hint)
	default:
		_, _ = fmt.Fprintf(stderr, "error: %s\n", msg)
	}
	return code
}

// markUsageErrors makes every argument and flag error of cmd and the verbs
// below it a usage error, for verbs added by other packages too.
func markUsageErrors(cmd *cobra.Command) {
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	walk(cmd, func(c *cobra.Command) {
		if c.Args == nil {
			return
		}
		check := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return &usageError{err}
			}
			return nil
		}
	})
}

// walk calls fn on cmd and every command below it.
func walk(cmd *cobra.Command, fn func(*cobra.Command)) {
	fn(cmd)
	for _, c := range cmd.Commands() {
		walk(c, fn)
	}
}

// interrupted reports whether ctx ended because of a signal or a caller's
// cancel, as opposed to a deadline of the verb's own.
func interrupted(ctx context.Context) bool {
	return errors.Is(ctx.Err(), context.Canceled)
}
