package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/quai-dev/quai/internal/stack"
)

// loadStack loads the stack for a verb and, when it cannot be loaded, turns
// the loader's error into the message every verb prints: which stack, every
// problem on its own line (file:line:col first), and what to do. The
// loader's error stays wrapped for errors.Is.
func loadStack(ctx context.Context, verb string, opts stack.Options) (*stack.Model, error) {
	m, err := stack.Load(ctx, opts)
	if err != nil {
		return nil, stackLoadError(verb, opts, err)
	}
	return m, nil
}

func stackLoadError(verb string, opts stack.Options, err error) error {
	if errors.Is(err, stack.ErrNoComposeFile) {
		abs, _ := filepath.Abs(opts.Dir)
		return fmt.Errorf("%s has no compose file (%s): %w; pass the project directory, e.g. quai %s ./myproject --env dev",
			abs, strings.Join(stack.ComposeFileNames, ", "), err, verb)
	}
	env := opts.Env
	if env == "" {
		env = stack.DefaultEnv
	}
	what := fmt.Sprintf("cannot load the stack in %s (env %s", opts.Dir, env)
	if opts.Org != "" {
		what += ", org " + opts.Org
	}
	what += ")"
	var le *stack.LoadError
	if !errors.As(err, &le) {
		return fmt.Errorf("%s: %w", what, err)
	}
	noun := "problems"
	if len(le.Diagnostics) == 1 {
		noun = "problem"
	}
	return &wrappedError{
		msg: fmt.Sprintf("%s, %d %s:\n  %s\nfix them and run quai %s again",
			what, len(le.Diagnostics), noun, strings.ReplaceAll(le.Error(), "\n", "\n  "), verb),
		err: err,
	}
}

// wrappedError is an error with its own message that still unwraps to the
// error it reports.
type wrappedError struct {
	msg string
	err error
}

func (e *wrappedError) Error() string { return e.msg }
func (e *wrappedError) Unwrap() error { return e.err }
