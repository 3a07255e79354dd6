package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

type execOptions struct {
	Interactive bool
	TTY         bool
	projectFlags
}

// defaultShell is what `quai exec -it INSTANCE SERVICE` runs.
const defaultShell = "/bin/sh"

func newExecCmd(g *globals) *cobra.Command {
	var o execOptions
	cmd := &cobra.Command{
		Use:   "exec [-it] [INSTANCE] SERVICE [-- CMD...]",
		Short: "Run a command in a replica of a service (a shell with -it)",
		Long: `exec runs CMD in the environment of the service's first ready replica and
exits with the command's exit code. -i attaches stdin, -t allocates a
terminal; with -it and no command, it starts a shell. -it needs a terminal
on stdin; to pipe input, use -i alone.

In a project folder INSTANCE may be left out when SERVICE is one of the
project's services: the instance is the one the project deploys for
-e/--env and --org (flags go before SERVICE).`,
		Example: `  quai exec -it shop-dev web                       # a shell
  quai exec shop-dev db -- psql -U app -c 'select 1'
  quai exec -i shop-dev db -- psql -U app < dump.sql
  quai exec -e prod db -- psql -U app              # in a project folder: db of its prod instance`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: g.completeInstance(true),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, service, argv, err := execTarget(cmd.Context(), args, o.projectFlags)
			if err != nil {
				return err
			}
			instance := t.Name
			if o.Interactive && o.TTY && !isTerminal(g.stdin) {
				// A terminal's line discipline over a pipe would wait for
				// keys that never come.
				return usageErrorf("exec -it needs a terminal on stdin, and stdin is not one: drop -t to pipe input, e.g. quai exec -i %s %s -- CMD < file", instance, service)
			}
			// With flags parsing stopped at INSTANCE, the "--" stays in args.
			if len(argv) > 0 && argv[0] == "--" {
				argv = argv[1:]
			}
			if len(argv) == 0 {
				if !o.TTY {
					return usageErrorf("exec needs a command: quai exec INSTANCE SERVICE -- CMD..., or -it for a shell")
				}
				argv = []string{defaultShell}
			}
			return t.explain(g.exec(cmd, instance, service, argv, o))
		},
	}
	o.flags(cmd)
	// Everything after SERVICE belongs to the command, flags included.
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().BoolVarP(&o.Interactive, "interactive", "i", false, "attach stdin")
	cmd.Flags().BoolVarP(&o.TTY, "tty", "t", false, "allocate a terminal")
	return cmd
}

// execTarget reads exec's arguments: INSTANCE SERVICE [CMD...], or, in a
// project folder, SERVICE [CMD...] when SERVICE is one of the project's.
func execTarget(ctx context.Context, args []string, p projectFlags) (target, string, []string, error) {
	if args[0] != "--" {
		if pr, ok := currentProject(ctx, p); ok && pr.hasService(args[0]) {
			return target{Name: pr.instance(), project: &pr}, args[0], args[1:], nil
		}
	}
	if len(args) < 2 || args[1] == "--" || args[0] == "--" {
		if _, ok := findProject("."); ok {
			return target{}, "", nil, usageErrorf("exec needs SERVICE: quai exec SERVICE -- CMD in a project folder (SERVICE one of its services), or quai exec INSTANCE SERVICE -- CMD")
		}
		return target{}, "", nil, usageErrorf("exec needs INSTANCE and SERVICE: quai exec INSTANCE SERVICE -- CMD... (quai ls lists the instances), or run it in a project folder with SERVICE alone")
	}
	return target{Name: args[0]}, args[1], args[2:], nil
}

func (g *globals) exec(cmd *cobra.Command, instance, service string, argv []string, o execOptions) error {
	ctx := cmd.Context()
	c, err := g.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	opts := client.ExecOptions{Service: service, Cmd: argv, TTY: o.TTY, Stdout: g.stdout, Stderr: g.stderr}
	if o.Interactive {
		opts.Stdin = g.stdin
	}
	if o.TTY {
		if in, ok := terminalFd(g.stdin); o.Interactive && ok && term.IsTerminal(in) {
			state, err := term.MakeRaw(in)
			if err != nil {
				return fmt.Errorf("exec: put the terminal in raw mode: %w", err)
			}
			defer func() { _ = term.Restore(in, state) }()
		}
		if fd, ok := terminalFd(g.stdout); ok && term.IsTerminal(fd) {
			if cols, rows, err := term.GetSize(fd); err == nil {
				opts.Size = &wire.TermSize{Rows: uint16(rows), Cols: uint16(cols)}
			}
			resize := make(chan wire.TermSize, 1)
			winch := make(chan os.Signal, 1)
			signal.Notify(winch, syscall.SIGWINCH)
			defer signal.Stop(winch)
			done := make(chan struct{})
			defer close(done)
			go func() {
				for {
					select {
					case <-done:
						return
					case <-winch:
						if cols, rows, err := term.GetSize(fd); err == nil {
							select {
							case resize <- wire.TermSize{Rows: uint16(rows), Cols: uint16(cols)}:
							default:
							}
						}
					}
				}
			}()
			opts.Resize = resize
		}
	}
	code, err := c.Exec(ctx, instance, opts)
	if err != nil {
		return err
	}
	if code != 0 {
		return withCode(code, nil)
	}
	return nil
}
