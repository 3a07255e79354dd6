package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/stack"
)

// Project context, as Compose has it: inside a project folder, or any
// folder below it, the verbs that act on an instance (status, logs, exec,
// down, start, rm, restart, rollback, releases, backup) act on the
// instance the project deploys for -e/--env and --org when no INSTANCE is
// given, and `up` deploys the project. The project is the nearest folder,
// from the current one up to the filesystem root, that holds a stack file
// (compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml, in
// Compose's order); Compose does not stop at a repository's root, and
// neither does quai. The instance's name is computed by loading the stack
// as `up` loads it, so x-quai.project, `name:` and COMPOSE_PROJECT_NAME
// count the same way. An INSTANCE given on the command line always wins.

// projectFlags are -e/--env and --org of a verb that acts on an instance:
// they choose the project's instance when INSTANCE is left out.
type projectFlags struct {
	Env string
	Org string
}

func (p *projectFlags) flags(cmd *cobra.Command) {
	envFlag(cmd, &p.Env)
	orgFlag(cmd, &p.Org)
}

// findProject returns the nearest directory, from dir up to the
// filesystem root, that holds a stack file.
func findProject(dir string) (string, bool) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", false
	}
	for {
		if hasComposeFile(abs) {
			return abs, true
		}
		parent := filepath.Dir(abs)
		if parent == abs {
			return "", false
		}
		abs = parent
	}
}

// project is the project around the current directory and the instance
// it deploys for the chosen environment and organization.
type project struct {
	Dir string
	// Model is the loaded stack; nil when it did not load (LoadErr says
	// why).
	Model   *stack.Model
	LoadErr error
	Env     string
	Org     string
}

// currentProject finds and loads the project around the current
// directory; ok is false outside any project.
func currentProject(ctx context.Context, p projectFlags) (project, bool) {
	dir, ok := findProject(".")
	if !ok {
		return project{}, false
	}
	pr := project{Dir: dir, Env: p.Env, Org: p.Org}
	pr.Model, pr.LoadErr = stack.Load(ctx, stack.Options{Dir: dir, Env: p.Env, Org: p.Org})
	return pr, true
}

// hasService reports whether the project's stack declares service.
func (pr project) hasService(service string) bool {
	return pr.Model != nil && pr.Model.Service(service) != nil
}

// instance is the name `up` gives the project's instance.
func (pr project) instance() string { return pr.Model.Identity.Name() }

// noProjectError is the answer to a verb run without INSTANCE outside any
// project.
func noProjectError(verb string) error {
	wd, _ := os.Getwd()
	return usageErrorf("quai %s needs an INSTANCE here: no %s in %s or a folder above it; pass the instance name (quai ls lists them), or run it inside a project folder",
		verb, strings.Join(stack.ComposeFileNames, ", "), wd)
}

// target is the instance a verb acts on and, when it came from the
// project around the current directory, that project.
type target struct {
	Name    string
	project *project
}

// explain adds to a not-found error where the name came from, when it
// came from the project: a project that is not installed yet says so.
func (t target) explain(err error) error {
	if err == nil || t.project == nil || !errors.Is(err, client.ErrNotFound) || strings.Contains(err.Error(), "service") {
		return err
	}
	env := t.project.Env
	if env == "" {
		env = stack.DefaultEnv
	}
	return &explainedError{
		msg: fmt.Sprintf("%s; the project in %s deploys %s for env %s: quai up installs it there, or pass another -e/--env, --org or INSTANCE",
			apiMessage(err), t.project.Dir, t.Name, env),
		err: err,
	}
}

// explainedError is an error of the daemon told in a verb's terms: it is
// printed with msg in place of the API's message, keeping the API's hint
// and code.
type explainedError struct {
	msg string
	err error
}

func (e *explainedError) Error() string { return e.msg }
func (e *explainedError) Unwrap() error { return e.err }

// apiMessage is the daemon's message of err without its hint, or err's
// text.
func apiMessage(err error) string {
	var ae *client.APIError
	if errors.As(err, &ae) {
		return ae.Message
	}
	return err.Error()
}

// resolveInstance returns the instance a verb acts on: name when given,
// else the instance the project around the current directory deploys.
func resolveInstance(ctx context.Context, verb, name string, p projectFlags) (target, error) {
	if name != "" {
		return target{Name: name}, nil
	}
	pr, ok := currentProject(ctx, p)
	if !ok {
		return target{}, noProjectError(verb)
	}
	if pr.Model == nil {
		return target{}, &wrappedError{
			msg: fmt.Sprintf("%v\nquai %s without INSTANCE acts on the instance of the project in %s, which needs its stack to load; fix it, or pass the instance name (quai ls lists them)",
				stackLoadError(verb, stack.Options{Dir: pr.Dir, Env: p.Env, Org: p.Org}, pr.LoadErr), verb, pr.Dir),
			err: pr.LoadErr,
		}
	}
	return target{Name: pr.instance(), project: &pr}, nil
}

// resolveInstanceService reads the [INSTANCE] [SERVICE] arguments of logs,
// restart and backup: two are INSTANCE SERVICE; one is a SERVICE of the
// project around the current directory when that project declares it
// (as in `docker compose logs web`), else an INSTANCE; none is the
// project's instance.
func resolveInstanceService(ctx context.Context, verb string, args []string, p projectFlags) (target, string, error) {
	switch len(args) {
	case 0:
		t, err := resolveInstance(ctx, verb, "", p)
		return t, "", err
	case 1:
		if pr, ok := currentProject(ctx, p); ok && pr.hasService(args[0]) {
			return target{Name: pr.instance(), project: &pr}, args[0], nil
		}
		return target{Name: args[0]}, "", nil
	}
	return target{Name: args[0]}, args[1], nil
}
