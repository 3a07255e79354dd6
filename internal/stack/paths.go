package stack

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// RuleHostPaths is the ID of the lint rule that reports every
// x-quai.allow_host_paths entry, at error severity: quai up refuses the stack
// unless run with --allow RuleHostPaths.
const RuleHostPaths = "QL033"

// ErrOutsideProject is returned by HostPath for a path that leaves the
// project directory without an allowance.
var ErrOutsideProject = errors.New("path outside the project directory")

// HostPath resolves p (absolute, or relative to dir) through symlinks and
// returns the real path when it lies inside dir's real directory or inside
// one of allow (x-quai.allow_host_paths entries, absolute or relative to
// dir). Otherwise it returns an error wrapping ErrOutsideProject. It reads
// no file: the loader and the daemon call it before they open one. A path
// that does not exist yet is judged by its longest existing parent.
func HostPath(dir, p string, allow []string) (string, error) {
	root, err := realPath(dir, ".")
	if err != nil {
		return "", fmt.Errorf("project directory: %w", err)
	}
	real, err := realPath(root, p)
	if err != nil {
		return "", err
	}
	if within(root, real) {
		return real, nil
	}
	for _, a := range allow {
		if ra, err := realPath(root, a); err == nil && within(ra, real) {
			return real, nil
		}
	}
	return "", fmt.Errorf("%w %s: %s resolves to %s", ErrOutsideProject, root, p, real)
}

func absIn(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// realPath resolves p's symlinks; the part of p that does not exist is
// kept as written after its longest existing parent.
func realPath(dir, p string) (string, error) {
	abs := filepath.Clean(absIn(dir, p))
	rest := ""
	for {
		r, err := filepath.EvalSymlinks(abs)
		if err == nil {
			return filepath.Join(r, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(abs)
		if parent == abs {
			return filepath.Join(abs, rest), nil
		}
		rest = filepath.Join(filepath.Base(abs), rest)
		abs = parent
	}
}

func within(root, p string) bool {
	return p == root || strings.HasPrefix(p, root+string(filepath.Separator))
}

// hostFile checks one file a stack names: inside the project (or allowed)
// and, when lim is set, within its size limit. Problems are reported at the
// key path. It returns whether the file may be read.
func (c *checker) hostFile(path, what, file string, lim *limit) bool {
	shown := relTo(c.dir, file)
	real, err := HostPath(c.dir, file, c.allow)
	if err != nil {
		if !errors.Is(err, ErrOutsideProject) {
			c.errf(path, "check the path", "%s %s: %v", what, shown, err)
			return false
		}
		where := ""
		if r, err := realPath(c.dir, file); err == nil && r != filepath.Clean(absIn(c.dir, file)) {
			where = " (through a symbolic link, to " + r + ")"
		}
		c.errf(path, fmt.Sprintf("keep it inside the project directory, or allow it with x-quai.allow_host_paths: [%s] (quai lint reports the allowance as %s, which quai up refuses without --allow %s)", shown, RuleHostPaths, RuleHostPaths),
			"%s %s is outside the project directory%s", what, shown, where)
		return false
	}
	if lim == nil {
		return true
	}
	fi, err := os.Stat(real)
	if err != nil {
		return true // a missing file is reported by whoever reads it
	}
	if msg, hint := c.lim.over(*lim, fi.Size()); msg != "" {
		c.errf(path, hint, "%s %s is too large: %s", what, shown, msg)
		return false
	}
	return true
}

// allowedHostPaths returns the x-quai.allow_host_paths entries as written;
// topLevel reports entries that are not strings.
func allowedHostPaths(p *types.Project) []string {
	top, _ := p.Extensions[Extension].(map[string]any)
	list, _ := top["allow_host_paths"].([]any)
	var out []string
	for _, v := range list {
		if s, ok := v.(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// checkHostPaths checks every host path the project names before any of
// them is read: env and label files, build contexts and Dockerfiles,
// secret and config files and, outside dev, bind-mount sources. It reports
// whether all are allowed.
func checkHostPaths(c *checker, p *types.Project, env string) bool {
	n := len(c.ds.list)
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		sc := p.Services[name]
		base := "services." + name
		for i, f := range sc.EnvFiles {
			c.hostFile(fmt.Sprintf("%s.env_file.%d", base, i), "env file", f.Path, &limitEnvFile)
		}
		for i, f := range sc.LabelFiles {
			c.hostFile(fmt.Sprintf("%s.label_file.%d", base, i), "label file", f, &limitEnvFile)
		}
		// Remote contexts (git URLs, docker-image://, service:) stay as
		// written; local ones are absolute once compose-go resolved them.
		if b := sc.Build; b != nil && filepath.IsAbs(b.Context) {
			if c.hostFile(base+".build.context", "build context", b.Context, nil) && b.Dockerfile != "" && b.DockerfileInline == "" {
				c.hostFile(base+".build.dockerfile", "Dockerfile", absIn(b.Context, b.Dockerfile), nil)
			}
		}
		if b := sc.Build; b != nil {
			for _, k := range slices.Sorted(maps.Keys(b.AdditionalContexts)) {
				if v := b.AdditionalContexts[k]; filepath.IsAbs(v) {
					c.hostFile(base+".build.additional_contexts."+k, "build context", v, nil)
				}
			}
		}
		if !IsDevEnv(env) {
			for i, v := range sc.Volumes {
				if v.Type == types.VolumeTypeBind {
					c.hostFile(fmt.Sprintf("%s.volumes.%d", base, i), "bind mount source", v.Source, nil)
				}
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.Secrets)) {
		if f := p.Secrets[name].File; f != "" {
			c.hostFile("secrets."+name+".file", "secret file", f, &limitFile)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.Configs)) {
		if f := p.Configs[name].File; f != "" {
			c.hostFile("configs."+name+".file", "config file", f, &limitFile)
		}
	}
	return len(c.ds.list) == n
}

// IsDevEnv reports whether env is a development environment, where bind
// mounts of the developer's own directories are the point.
func IsDevEnv(env string) bool {
	switch strings.ToLower(env) {
	case "dev", "development", "local":
		return true
	}
	return false
}

// allowedHostPaths returns the model's allow_host_paths when the deploy
// allowed RuleHostPaths, else none.
func (m *Model) allowedHostPaths() []string {
	if slices.Contains(m.AllowedRules, RuleHostPaths) {
		return m.AllowHostPaths
	}
	return nil
}

// HostPath is the package HostPath for a file the model names: inside the
// project directory, or under an allow_host_paths entry the deploy allowed.
// The daemon calls it before it opens a file a model names.
func (m *Model) HostPath(p string) (string, error) {
	return HostPath(m.Dir, p, m.allowedHostPaths())
}

// CheckHostPaths checks, as the daemon must for a model it did not load
// itself, that Dir is a real project directory holding the model's stack
// files, and that every file the daemon or a runtime reads or mounts for the
// model (secret files, TLS certificates and keys, build contexts and
// Dockerfiles, bind-mount sources outside dev) is inside it or allowed. It
// reads no file. The error wraps ErrOutsideProject.
func (m *Model) CheckHostPaths() error {
	if len(m.AllowHostPaths) > 0 && m.allowedHostPaths() == nil {
		return fmt.Errorf("%w: the stack allows host paths %s (x-quai.allow_host_paths) but the deploy did not allow lint rule %s: run quai up --allow %s",
			ErrOutsideProject, strings.Join(m.AllowHostPaths, ", "), RuleHostPaths, RuleHostPaths)
	}
	type named struct{ what, path string }
	var paths []named
	for _, s := range m.Secrets {
		if s.File != "" {
			paths = append(paths, named{"secret " + s.Name, s.File})
		}
	}
	for _, r := range m.Routes {
		for _, f := range []string{r.CertFile, r.KeyFile} {
			if f != "" {
				paths = append(paths, named{"TLS file of " + r.Host + r.Path, f})
			}
		}
	}
	for _, s := range m.Services {
		if b := s.Build; b != nil && filepath.IsAbs(b.Context) {
			paths = append(paths, named{"build context of " + s.Name, b.Context})
			if b.Dockerfile != "" {
				paths = append(paths, named{"Dockerfile of " + s.Name, absIn(b.Context, b.Dockerfile)})
			}
		}
		for _, mt := range s.Mounts {
			if mt.Type == MountBind && !IsDevEnv(m.Identity.Env) {
				paths = append(paths, named{"bind mount of " + s.Name, mt.Source})
			}
		}
	}
	if len(paths) == 0 {
		return nil
	}
	// A model that names host files must come from a real project: its
	// directory, really, holding its stack file. Otherwise a request could
	// name "/" or "/etc" as the project and any file as inside it.
	if !filepath.IsAbs(m.Dir) || len(m.Files) == 0 {
		return fmt.Errorf("%w: the model's directory %q is not an absolute project directory with stack files", ErrOutsideProject, m.Dir)
	}
	if real, err := filepath.EvalSymlinks(m.Dir); err != nil || real != filepath.Clean(m.Dir) {
		return fmt.Errorf("%w: the model's directory %s is not a real directory (load the stack again with quai up)", ErrOutsideProject, m.Dir)
	}
	for _, f := range m.Files {
		paths = append(paths, named{"stack file", f})
	}
	for _, p := range paths {
		if _, err := m.HostPath(p.path); err != nil {
			return fmt.Errorf("%s: %w", p.what, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(m.Dir, m.Files[0])); err != nil || !fi.Mode().IsRegular() || !slices.Contains(ComposeFileNames, m.Files[0]) {
		return fmt.Errorf("%w: %s holds no stack file %s", ErrOutsideProject, m.Dir, m.Files[0])
	}
	return nil
}
