// Package cli is quai's command line: one file per verb, flags filling an
// options struct that is handed to the core as is. It renders the API's
// events and results; it talks to the daemon through internal/client and
// links no daemon code: never a runtime, the engine, the store, the proxy,
// the API or the daemon. `quai serve`, which runs the daemon, is handed in
// by cmd/quai. It may load stacks (internal/stack) and lint and render them
// client-side.
//
// Every verb behaves the same way, and tree_test.go holds new verbs to it:
// an Example in its help; -e/--env, --org, --runtime and -y declared with
// the helpers of flags.go; INSTANCE and SERVICE arguments completed from the
// daemon (completion.go); errors returned, never printed, and their exit
// code decided by exitCode (exit.go): a wrong command line is a
// usageErrorf, a no at a prompt is declined, a failed operation returns what
// runOperation returns, and the API's errors map by their code.
package cli

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/version"
)

// globals are the flags every verb shares.
type globals struct {
	JSON    bool
	DataDir string
	Socket  string
	// Context names the daemon context (remotectx.go).
	Context string

	stdout io.Writer
	stderr io.Writer
	stdin  io.Reader
}

// Verb builds a command that lives outside this package, such as `quai
// serve`, which links the daemon. It reads the shared flags (--json,
// --data-dir, --socket) from its parent; an error it returns gets its exit
// code like any verb's (see exitCode).
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

// Command returns quai's command tree with verbs added, as Run runs it, for
// generating its reference (docs/cli.md, man pages) and checking it.
func Command(verbs ...Verb) *cobra.Command {
	return newTree(&globals{stdout: io.Discard, stderr: io.Discard, stdin: strings.NewReader("")}, verbs)
}

// Run is Main with explicit streams, for tests.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, verbs ...Verb) int {
	g := &globals{stdout: stdout, stderr: stderr, stdin: stdin}
	root := newTree(g, verbs)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil && cmd == root && !errors.As(err, new(*usageError)) {
		// The root runs nothing itself: what fails there is an unknown verb.
		err = &usageError{err}
	}
	// An unknown verb fails before flags are parsed.
	flags := args
	if i := slices.Index(args, "--"); i >= 0 {
		flags = args[:i]
	}
	asJSON := g.JSON || err != nil && slices.Contains(flags, "--json")
	return report(stderr, asJSON, cmd, err, err != nil && interrupted(ctx))
}

// newTree is the root with every verb: this package's, those handed in, and
// cobra's completion, each argument and flag error marked a usage error.
func newTree(g *globals, verbs []Verb) *cobra.Command {
	root := newRootCmd(g)
	for _, v := range verbs {
		root.AddCommand(v())
	}
	initCompletionCmd(root)
	g.completeEverywhere(root)
	markUsageErrors(root)
	return root
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
  quai ls                              list instances

` + exitCodesHelp(),
		Version:       version.Get().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// --version prints what `quai version` prints.
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentFlags().BoolVar(&g.JSON, "json", false, "print machine-readable JSON")
	root.PersistentFlags().StringVar(&g.DataDir, "data-dir", "", "quai's state directory (default $QUAI_DATA_DIR, $XDG_DATA_HOME/quai, or /var/lib/quai as root)")
	root.PersistentFlags().StringVar(&g.Socket, "socket", "", "daemon socket (default DATA_DIR/quai.sock)")
	root.PersistentFlags().StringVar(&g.Context, "context", "", "daemon `NAME`: a remote daemon stored by quai login, or \"default\", the local one (default $QUAI_CONTEXT, else the one quai context use chose)")
	for _, c := range commands(g) {
		root.AddCommand(c)
	}
	return root
}
