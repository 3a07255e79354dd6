package stack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"
)

// Options say which stack to load and for which instance.
type Options struct {
	// Dir is the project directory (relative paths are made absolute).
	Dir string
	// Env is the environment; "" means "dev".
	Env string
	// Org is the organization; "" means DefaultOrg.
	Org string
	// Environ feeds interpolation together with the project's .env file, as
	// the process environment does for `docker compose`; nil means the
	// process environment.
	Environ map[string]string
	// Limits bound what the stack may ask for; zero fields take their
	// environment variable or default (see Limits).
	Limits Limits
}

// DefaultEnv is the environment of a load that names none.
const DefaultEnv = "dev"

// ComposeFileNames are the base stack file names, in the order Compose
// looks for them.
var ComposeFileNames = cli.DefaultFileNames

// OverrideFileNames are the Compose override files merged right after the
// base file when present, as `docker compose` does.
var OverrideFileNames = cli.DefaultOverrideFileNames

// Load reads the stack in opts.Dir with its overlays for opts.Env and
// opts.Org, validates it and returns the desired-state model. Problems with
// the files are returned together as a *LoadError (errors.Is ErrInvalid);
// a directory without a Compose file gives ErrNoComposeFile.
func Load(ctx context.Context, opts Options) (*Model, error) {
	lim, err := opts.Limits.resolve()
	if err != nil {
		return nil, fmt.Errorf("load stack: %w", err)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("load stack: %w", err)
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("load stack: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("load stack: %s is not a directory", dir)
	}
	// The project is its real directory: a link to it is the same project,
	// and every path the stack names is judged against where it really is.
	if dir, err = filepath.EvalSymlinks(dir); err != nil {
		return nil, fmt.Errorf("load stack: %w", err)
	}
	env, org := cmp.Or(opts.Env, DefaultEnv), cmp.Or(opts.Org, DefaultOrg)
	var ds diagnostics
	if !nameRe.MatchString(env) {
		ds.add(Position{}, "", "use lowercase letters, digits and dashes, e.g. staging", "invalid environment name %q", env)
	}
	if !nameRe.MatchString(org) {
		ds.add(Position{}, "", "use lowercase letters, digits and dashes, e.g. acme", "invalid organization name %q", org)
	}
	if err := ds.err(dir, nil); err != nil {
		return nil, err
	}

	files, err := stackFiles(dir, env, org, &ds)
	if err != nil {
		return nil, err
	}
	if err := ds.err(dir, files); err != nil {
		return nil, err
	}

	// Parse every file ourselves first: for positions, and to report YAML
	// syntax errors of all files at once with their lines.
	idx := newPosIndex()
	empty := map[string]bool{}
	for _, rel := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := HostPath(dir, rel, nil); err != nil {
			ds.add(Position{File: rel}, "", "copy the file into this project instead of linking it, or run quai in the project the link points into",
				"%s is a link out of the project directory: %v", rel, err)
			continue
		}
		content, size, ok, err := readLimited(filepath.Join(dir, rel), lim.StackFileBytes)
		if err != nil {
			return nil, fmt.Errorf("load stack: %w", err)
		}
		if !ok {
			msg, hint := lim.over(limitStackFile, size)
			ds.add(Position{File: rel}, "", hint, "the file is too large: %s", msg)
			continue
		}
		doc, d := parseYAML(rel, content)
		if d != nil {
			ds.list = append(ds.list, *d)
			continue
		}
		if len(doc.Content) == 0 {
			if rel == files[0] {
				ds.add(Position{File: rel}, "", "declare the stack's services, e.g. services: { web: { image: nginx:1.27 } }", "the compose file is empty")
			}
			empty[rel] = true
			continue
		}
		if root := doc.Content[0]; root.Kind != yaml.MappingNode {
			ds.add(Position{File: rel, Line: root.Line, Column: root.Column}, "", "a stack file is a mapping with services:, volumes:, x-quai: ...", "the top level must be a mapping, got a %s", kindName(root.Kind))
			continue
		}
		bomb, err := idx.add(ctx, rel, doc)
		if err != nil {
			return nil, err
		}
		if bomb != nil {
			ds.list = append(ds.list, *bomb)
		}
	}
	if err := ds.err(dir, files); err != nil {
		return nil, err
	}

	// An empty overlay changes nothing; compose-go would reject it.
	var load []string
	for _, f := range files {
		if !empty[f] {
			load = append(load, f)
		}
	}
	c := &checker{idx: idx, ds: &ds, dir: dir, lim: lim}
	if fi, err := os.Lstat(filepath.Join(dir, ".env")); err == nil && !fi.IsDir() {
		c.hostFile("", ".env file", ".env", &limitEnvFile)
		for i := range ds.list {
			ds.list[i].Pos = cmp.Or(ds.list[i].Pos, Position{File: ".env"})
		}
		if err := ds.err(dir, files); err != nil {
			return nil, err
		}
	}
	project, err := loadCompose(ctx, dir, load, opts.Environ)
	if err == nil {
		// Env and label files are read only once their paths are checked.
		c.allow = allowedHostPaths(project)
		if !checkHostPaths(c, project, env) {
			return nil, ds.err(dir, files)
		}
		project, err = resolveEnvFiles(project)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		mapComposeError(err, dir, files, idx, &ds)
		return nil, ds.err(dir, files)
	}

	m, err := buildModel(project, dir, files, env, org, c)
	if err != nil {
		return nil, err
	}
	if err := ds.err(dir, files); err != nil {
		return nil, err
	}
	return m, nil
}

// stackFiles lists the files to load, relative to dir, in load order.
func stackFiles(dir, env, org string, ds *diagnostics) ([]string, error) {
	var files []string
	base := firstExisting(dir, ComposeFileNames)
	if base == "" {
		return nil, fmt.Errorf("%w in %s: create compose.yaml (a Compose file, with x-quai extensions for quai)", ErrNoComposeFile, dir)
	}
	files = append(files, base)
	if o := firstExisting(dir, OverrideFileNames); o != "" {
		files = append(files, o)
	}

	envFile := firstExisting(dir, []string{"envs/" + env + ".yaml", "envs/" + env + ".yml"})
	if envFile != "" {
		files = append(files, envFile)
	} else if known := listEnvs(dir); known != nil {
		hint := didYouMean(env, known)
		ds.add(Position{File: "envs"}, "", joinHints(hint, fmt.Sprintf("create envs/%s.yaml (it may be empty) to add the environment", env)),
			"unknown environment %q: this project declares %s", env, quoteList(known))
	}
	for _, name := range []string{"common", env} {
		if f := firstExisting(dir, []string{"orgs/" + org + "/" + name + ".yaml", "orgs/" + org + "/" + name + ".yml"}); f != "" {
			files = append(files, f)
		}
	}
	return files, nil
}

func firstExisting(dir string, names []string) string {
	for _, n := range names {
		if fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(n))); err == nil && fi.Mode().IsRegular() {
			return n
		}
	}
	return ""
}

// listEnvs returns the environments declared by envs/*.yaml, or nil when the
// project has no envs directory (then every environment is the base stack).
func listEnvs(dir string) []string {
	entries, err := os.ReadDir(filepath.Join(dir, "envs"))
	if err != nil {
		return nil
	}
	known := []string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		if n, ok := strings.CutSuffix(name, ".yaml"); ok {
			known = append(known, n)
		} else if n, ok := strings.CutSuffix(name, ".yml"); ok {
			known = append(known, n)
		}
	}
	slices.Sort(known)
	return slices.Compact(known)
}

// composeOptions are the compose-go options `docker compose config` uses,
// with the files named explicitly (quai adds its overlays) and the
// environment taken from environ when it is not nil.
func composeOptions(dir string, files []string, environ map[string]string) ([]cli.ProjectOptionsFn, []string) {
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(dir, filepath.FromSlash(f))
	}
	opts := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(dir),
	}
	if environ == nil {
		opts = append(opts, cli.WithOsEnv)
		if _, ok := os.LookupEnv("PWD"); !ok {
			if pwd, err := os.Getwd(); err == nil {
				opts = append(opts, cli.WithEnv([]string{"PWD=" + pwd}))
			}
		}
	} else {
		env := make([]string, 0, len(environ))
		for _, k := range slices.Sorted(maps.Keys(environ)) {
			env = append(env, k+"="+environ[k])
		}
		opts = append(opts, cli.WithEnv(env))
	}
	opts = append(opts,
		cli.WithEnvFiles(),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		// env_file and label_file are read by resolveEnvFiles, after their
		// paths are checked.
		cli.WithoutEnvironmentResolution,
		cli.WithoutLabelsResolution,
	)
	return opts, paths
}

func loadCompose(ctx context.Context, dir string, files []string, environ map[string]string) (*types.Project, error) {
	opts, paths := composeOptions(dir, files, environ)
	po, err := cli.NewProjectOptions(paths, opts...)
	if err != nil {
		return nil, err
	}
	p, err := po.LoadProject(ctx)
	if err != nil {
		return nil, err
	}
	if p.Name == "" {
		return nil, errors.New("project name must not be empty")
	}
	// Compose drops the secrets no service lists; those a service receives
	// only through x-quai.secret_env are used all the same.
	keep := map[string]types.SecretConfig{}
	for _, sc := range p.Services {
		x, _ := sc.Extensions[Extension].(map[string]any)
		env, _ := x["secret_env"].(map[string]any)
		for _, v := range env {
			if name, ok := v.(string); ok {
				if sec, ok := p.Secrets[name]; ok {
					keep[name] = sec
				}
			}
		}
	}
	// So are those a route's basic_auth reads its users from.
	xq, _ := p.Extensions[Extension].(map[string]any)
	routes, _ := xq["routes"].([]any)
	for _, r := range routes {
		rm, _ := r.(map[string]any)
		ba, _ := rm["basic_auth"].(map[string]any)
		if name, ok := ba["users_secret"].(string); ok {
			if sec, ok := p.Secrets[name]; ok {
				keep[name] = sec
			}
		}
	}
	p = p.WithoutUnnecessaryResources()
	if len(keep) > 0 && p.Secrets == nil {
		p.Secrets = types.Secrets{}
	}
	maps.Copy(p.Secrets, keep)
	return p, nil
}

// resolveEnvFiles reads the services' env and label files into their
// environment and labels, as compose-go does during a load.
func resolveEnvFiles(p *types.Project) (*types.Project, error) {
	p, err := p.WithServicesEnvironmentResolved(true)
	if err != nil {
		return nil, err
	}
	return p.WithServicesLabelsResolved(true)
}

// marshalResolved prints the project as `docker compose config` does.
func marshalResolved(p *types.Project) ([]byte, error) {
	return p.MarshalYAML()
}

// ResolvedJSON returns Resolved as JSON: the same document, for tools that
// read JSON.
func (m *Model) ResolvedJSON() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(m.Resolved, &doc); err != nil {
		return nil, fmt.Errorf("resolved config: %w", err)
	}
	return jsonIndent(doc)
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "single value"
	default:
		return "alias"
	}
}
