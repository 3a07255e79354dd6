package process

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/quai-dev/quai/internal/datadir"
	"github.com/quai-dev/quai/internal/fsutil"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/logfile"
	"github.com/quai-dev/quai/internal/stack"
)

// prepare turns a ReplicaSpec into the supervisor's spec: port, directories,
// secrets, environment, command (or database server), health check.
func (r *Runtime) prepare(ctx context.Context, rs runtime.ReplicaSpec, dir string) (*shimSpec, error) {
	svc := rs.Service
	spec := &shimSpec{
		Version: specVersion,
		Meta: specMeta{Instance: rs.Instance, Service: svc.Name, Replica: rs.Replica,
			Release: rs.Release, Hash: svc.Hash, Labels: runtime.ReplicaLabels(rs)},
		Kind:       kindApp,
		StopSignal: int(syscall.SIGTERM),
		StopGrace:  r.opts.StopGrace,
		BackoffMin: 100 * time.Millisecond,
		BackoffMax: r.opts.BackoffMax,
		LogMaxSize: r.opts.LogMaxSize,
		LogKeep:    r.opts.LogKeep,
	}
	if sd, err := r.serviceLogDir(rs.Instance, svc.Name); err == nil {
		spec.LogPath = logfile.Path(sd, rs.Replica)
	}
	var err error
	if spec.Restart, err = parseRestart(svc.Restart); err != nil {
		return spec, err
	}
	if p := rs.Env["PORT"]; p != "" {
		if spec.Port, err = strconv.Atoi(p); err != nil || spec.Port <= 0 || spec.Port > 65535 {
			return spec, fmt.Errorf("PORT=%q is not a TCP port", p)
		}
	} else if spec.Port, err = r.allocatePort(dir); err != nil {
		return spec, err
	}

	inst, _ := r.instanceDir(rs.Instance)
	volumes := filepath.Join(inst, "volumes")
	if err := os.MkdirAll(volumes, 0o755); err != nil {
		return spec, err
	}
	kind := dbKind(svc)
	// cred is who the replica runs as and owns what it writes: a database
	// keeps its system user whatever `user:` says, an app gets `user:`.
	var cred *credential
	if kind != "" {
		// What to install is the first thing a user needs to hear.
		if err := r.checkDBBinaries(kind, svc); err != nil {
			return spec, err
		}
		if cred, err = r.dbUser(kind, svc); err != nil {
			return spec, err
		}
	} else if cred, err = appUser(svc); err != nil {
		return spec, err
	}

	if spec.Cgroup, err = r.replicaCgroup(rs.Instance, rs.Replica, svc.Resources); err != nil {
		return spec, err
	}
	if spec.Cgroup != "" {
		spec.Cleanup = append(spec.Cleanup, spec.Cgroup)
	}

	// Mounts: target → host directory, for the environment rewrite.
	remap := map[string]string{}
	volEnv := map[string]string{}
	for _, m := range svc.Mounts {
		switch m.Type {
		case stack.MountVolume:
			name := m.Source
			if name == "" {
				name = svc.Name + "-" + envName(m.Target)
			}
			if !safeName(name) {
				return spec, fmt.Errorf("volume name %q cannot be a directory name", name)
			}
			host := filepath.Join(volumes, name)
			if err := os.MkdirAll(host, 0o755); err != nil {
				return spec, err
			}
			if err := chownTo(host, cred); err != nil {
				return spec, err
			}
			remap[m.Target] = host
			volEnv["QUAI_VOLUME_"+envName(name)] = host
		case stack.MountTmpfs:
			host := filepath.Join(dir, "tmpfs", envName(m.Target))
			if err := os.MkdirAll(host, 0o755); err != nil {
				return spec, err
			}
			if err := chownTo(host, cred); err != nil {
				return spec, err
			}
			remap[m.Target] = host
		case stack.MountBind:
			// Not remapped: the app sees the host's file system.
		}
	}

	spec.Mounts = maps.Clone(remap)
	run, err := r.prepareRunDir(rs, cred, spec)
	if err != nil {
		return spec, err
	}
	secrets := filepath.Join(run, secretDir)
	if len(rs.Secrets) > 0 {
		if err := checkReachable(secrets, cred); err != nil {
			return spec, fmt.Errorf("service %s: %w", svc.Name, err)
		}
	}
	for name, val := range rs.Secrets {
		if !safeName(name) {
			return spec, fmt.Errorf("secret name %q cannot be a file name", name)
		}
		p := filepath.Join(secrets, name)
		if err := fsutil.WriteFile(p, val, 0o600); err != nil {
			return spec, err
		}
		if err := chownTo(p, cred); err != nil {
			return spec, err
		}
		remap["/run/secrets/"+name] = p
	}
	for k, val := range rs.SecretEnv {
		if !safeName(k) {
			return spec, fmt.Errorf("secret environment variable %q cannot be a file name", k)
		}
		if err := fsutil.WriteFile(filepath.Join(run, secretEnvDir, k), val, 0o600); err != nil {
			return spec, err
		}
	}

	env := envMap(r.opts.BaseEnv)
	if kind == "" && cred != nil {
		// The daemon's HOME is root's; the service's own environment may
		// still say otherwise.
		env["HOME"], env["USER"], env["LOGNAME"] = cred.Home, cred.User, cred.User
	}
	for _, m := range []map[string]string{svc.Environment, processEnv(svc), rs.Env} {
		for k, v := range m {
			env[k] = v
		}
	}
	for k, v := range env {
		env[k] = rewritePath(v, remap)
	}
	env["PORT"] = strconv.Itoa(spec.Port)
	env["QUAI_SECRETS_DIR"] = secrets
	env["QUAI_INSTANCE"] = rs.Instance.Name()
	env["QUAI_SERVICE"] = svc.Name
	env["QUAI_REPLICA"] = rs.Replica
	for k, v := range volEnv {
		env[k] = v
	}
	for name := range rs.Secrets {
		k := envName(name) + "_FILE"
		if _, set := env[k]; !set {
			env[k] = filepath.Join(secrets, name)
		}
	}

	spec.Dir = rs.ProjectDir
	if svc.Process != nil && svc.Process.Dir != "" {
		spec.Dir = svc.Process.Dir
		if !filepath.IsAbs(spec.Dir) {
			spec.Dir = filepath.Join(rs.ProjectDir, spec.Dir)
		}
	}
	if spec.Dir == "" {
		spec.Dir = dir
	}
	if fi, err := os.Stat(spec.Dir); err != nil || !fi.IsDir() {
		return spec, fmt.Errorf("working directory %s does not exist (x-quai.process.dir is relative to the project directory)", spec.Dir)
	}
	if kind == "" {
		if err := checkReachable(spec.Dir, cred); err != nil {
			return spec, fmt.Errorf("service %s: %w", svc.Name, err)
		}
		spec.Credential = cred
	}

	if kind != "" {
		// A database reads its initial passwords from the environment
		// (POSTGRES_PASSWORD...): secret values are there while it is
		// prepared, and left out of the spec written to disk.
		for k, v := range rs.SecretEnv {
			env[k] = string(v)
		}
		err := r.prepareDB(ctx, kind, rs, dir, volumes, env, cred, spec)
		for k := range rs.SecretEnv {
			delete(env, k)
		}
		if err != nil {
			return spec, err
		}
	} else {
		if svc.Process == nil || len(svc.Process.Command) == 0 {
			return spec, fmt.Errorf("service %s has no x-quai.process.command, which the process runtime needs to run it (only the postgres, mysql, mariadb and redis images run without one); add it, or deploy with the docker runtime: %w", svc.Name, runtime.ErrUnsupported)
		}
		spec.Argv = commandArgv(svc.Process.Command)
	}
	spec.Env = envList(env)
	if spec.Argv[0], err = resolveCommand(spec.Argv[0], spec.Dir, env["PATH"]); err != nil {
		return spec, err
	}
	if spec.Kind == kindApp {
		spec.Health = r.healthFor(svc, spec.Port)
	}
	return spec, nil
}

// prepareRunDir makes the replica's directory under Options.RunDir, empty:
// secrets/ (0700, the replica's user's: its secret files) and env/ (0700,
// the daemon's: the values of its secret environment variables, which the
// supervisor reads at each start). Remove deletes it.
func (r *Runtime) prepareRunDir(rs runtime.ReplicaSpec, cred *credential, spec *shimSpec) (string, error) {
	// A replica running as another user passes through the run
	// directories to reach its own secrets; it lists none of them.
	mode := os.FileMode(0o700)
	if cred != nil && cred.UID != uint32(os.Geteuid()) { //nolint:gosec // a uid fits in 32 bits
		mode = 0o711
	}
	if err := datadir.MkdirRun(r.opts.RunDir, mode); err != nil {
		return "", err
	}
	inst := filepath.Join(r.opts.RunDir, rs.Instance.Slug())
	run := filepath.Join(inst, rs.Replica)
	if err := os.RemoveAll(run); err != nil {
		return "", err
	}
	// The instance's directory, shared by its replicas, only ever gains
	// search bits; the replica's own get exactly what it needs.
	if err := datadir.MkdirRun(inst, mode); err != nil {
		return "", err
	}
	secrets := filepath.Join(run, secretDir)
	for d, m := range map[string]os.FileMode{run: mode, secrets: 0o700, filepath.Join(run, secretEnvDir): 0o700} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", err
		}
		if err := os.Chmod(d, m); err != nil {
			return "", err
		}
	}
	spec.RunDir = run
	spec.Cleanup = append(spec.Cleanup, run)
	return run, chownTo(secrets, cred)
}

func processEnv(svc *stack.Service) map[string]string {
	if svc.Process == nil {
		return nil
	}
	return svc.Process.Env
}

// commandArgv runs a single-string command with spaces through sh -c, the
// way Compose treats a string command.
func commandArgv(cmd []string) []string {
	if len(cmd) == 1 && strings.ContainsAny(cmd[0], " \t\n;&|<>()$`'\"*?") {
		return []string{"/bin/sh", "-c", cmd[0]}
	}
	return append([]string(nil), cmd...)
}

// resolveCommand finds argv[0] the way a shell would, but with the replica's
// PATH and working directory rather than the daemon's.
func resolveCommand(name, dir, path string) (string, error) {
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := executable(p); err != nil {
			return "", fmt.Errorf("command %s: %w", p, err)
		}
		return p, nil
	}
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		p := filepath.Join(d, name)
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("command %q not found in the replica's PATH (%s): install it or set PATH in x-quai.process.env", name, path)
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return errors.New("not an executable file")
	}
	return nil
}

func envMap(list []string) map[string]string {
	m := make(map[string]string, len(list))
	for _, kv := range list {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// envName turns a name or path into an environment variable name part:
// upper case, anything but letters and digits becomes '_'.
func envName(s string) string {
	s = strings.Trim(s, "/")
	b := []byte(strings.ToUpper(s))
	for i, c := range b {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// rewritePath maps a value that is (or is under) a container path the
// process runtime provides elsewhere; the longest matching prefix wins.
func rewritePath(v string, remap map[string]string) string {
	best := ""
	for from := range remap {
		if from == "/" || from == "" {
			continue
		}
		if (v == from || strings.HasPrefix(v, from+"/")) && len(from) > len(best) {
			best = from
		}
	}
	if best == "" {
		return v
	}
	return remap[best] + v[len(best):]
}

func chownTo(path string, c *credential) error {
	if c == nil {
		return nil
	}
	if err := os.Lchown(path, int(c.UID), int(c.GID)); err != nil {
		return fmt.Errorf("give %s to user %s: %w", path, c.User, err)
	}
	return nil
}
