// Package cli is quai's command line: one file per verb, flags filling an
// options struct that is handed to the core as is. It renders the API's
// events and results; it talks to the daemon through internal/client and
// links no daemon code: never a runtime, the engine, the store, the proxy,
// the API or the daemon. `quai serve`, which runs the daemon, is handed in
// by cmd/quai. It may load stacks (internal/stack) and lint and render them
// client-side.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/datadir"
)

// Exit codes shared by every verb.
const (
	ExitOK       = 0
	ExitFindings = 1 // the command ran and found problems (lint findings, failed checks)
	ExitError    = 2 // the command could not do its job (bad stack file, daemon error)
	ExitLocked   = 3 // serve: another quai daemon holds the data directory
)

// exitError carries an exit code out of a cobra RunE.
type exitError struct {
	code int
	err  error
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

// globals are the flags every verb shares.
type globals struct {
	JSON    bool
	DataDir string
	Socket  string

	stdout io.Writer
	stderr io.Writer
	stdin  io.Reader
}

// Verb builds a command that lives outside this package, such as `quai
// serve`, which links the daemon. It reads the shared flags (--json,
// --data-dir, --socket) from its parent; an error it returns exits with
// ExitError.
type Verb func() *cobra.Command

// Main runs quai with args and returns the process exit code.
func Main(args []string, verbs ...Verb) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first Ctrl-C cancels ctx and every verb stops; giving the signals
	// back at once makes a second Ctrl-C kill quai, whatever it is stuck on.
	context.AfterFunc(ctx, stop)
	return Run(ctx, args, os.Stdin, os.Stdout, os.Stderr, verbs...)
}

// Run is Main with explicit streams, for tests.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, verbs ...Verb) int {
	g := &globals{stdout: stdout, stderr: stderr, stdin: stdin}
	root := newRootCmd(g)
	for _, v := range verbs {
		root.AddCommand(v())
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			_, _ = fmt.Fprintf(stderr, "error: %v\n", ee.err)
		}
		return ee.code
	}
	_, _ = fmt.Fprintf(stderr, "error: %v\n", err)
	if errors.Is(err, datadir.ErrLocked) {
		// From serve: a verb that started it waits for the daemon that holds
		// the directory.
		return ExitLocked
	}
	return ExitError
}

func newRootCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "quai",
		Short: "Install, update, back up and remove multi-service web applications",
		Long: `quai deploys instances of a project — one stack file (Compose format plus
x-quai extensions) per project — per organization and environment, on local
processes, a Docker Engine or Kubernetes.

Start with:
  quai lint ./myproject --env prod     check a stack file
  quai up ./myproject --env dev        install or update an instance
  quai ls                              list instances`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().BoolVar(&g.JSON, "json", false, "print machine-readable JSON")
	root.PersistentFlags().StringVar(&g.DataDir, "data-dir", "", "quai's state directory (default $QUAI_DATA_DIR, $XDG_DATA_HOME/quai, or /var/lib/quai as root)")
	root.PersistentFlags().StringVar(&g.Socket, "socket", "", "daemon socket (default DATA_DIR/quai.sock)")
	for _, c := range commands(g) {
		root.AddCommand(c)
	}
	return root
}
