package process

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// Assess says what of m the process runtime will not run as written: the
// settings only containers have (read_only, capabilities, namespaces,
// published ports), limits where cgroup v2 cannot enforce them, the host's
// database servers standing in for images, and the services it cannot run
// at all (an image without x-quai.process.command, a `user:` this daemon
// cannot switch to, a database server the host lacks). The engine lists
// them in the plan and refuses to start a release with a refusal.
func (r *Runtime) Assess(m *stack.Model) []runtime.Finding {
	var out []runtime.Finding
	for _, svc := range m.Services {
		out = append(out, r.assessService(m.Dir, svc)...)
	}
	runtime.SortFindings(out)
	return out
}

func (r *Runtime) assessService(projectDir string, svc *stack.Service) []runtime.Finding {
	var out []runtime.Finding
	add := func(v runtime.Verdict, setting, format string, a ...any) {
		out = append(out, runtime.Finding{Service: svc.Name, Setting: setting, Verdict: v, Message: fmt.Sprintf(format, a...)})
	}
	kind := dbKind(svc)
	var cred *credential
	switch {
	case kind != "":
		if err := r.checkDBBinaries(kind, svc); err != nil {
			return append(out, runtime.Finding{Service: svc.Name, Setting: "image", Verdict: runtime.VerdictRefuse, Missing: true, Message: err.Error()})
		}
		bin, _ := r.serverBinary(kind)
		add(runtime.VerdictChange, "image", "%s", r.hostServer(svc.Image, kind, bin))
		c, err := r.dbUser(kind, svc)
		if err != nil {
			out = append(out, runtime.Finding{Service: svc.Name, Setting: "image", Verdict: runtime.VerdictRefuse, Missing: true, Message: err.Error()})
			return out
		}
		cred = c
		if svc.User != "" {
			who := "the daemon's user"
			if c != nil {
				who = "its system user " + c.User + ", which owns its data directory"
			}
			add(runtime.VerdictIgnore, "user", "user %s is not used: the database server runs as %s", svc.User, who)
		}
	case svc.Process == nil || len(svc.Process.Command) == 0:
		what := "image " + svc.Image
		if svc.Image == "" || svc.Build != nil {
			what = "its build"
		}
		add(runtime.VerdictRefuse, "x-quai.process.command",
			"the process runtime runs no images, so it cannot run %s without x-quai.process.command (only the postgres, mysql, mariadb and redis images run without one, from the host's servers): add the command that starts the service from the project directory, or deploy with --runtime docker", what)
		return out
	default:
		c, err := appUser(svc)
		if err != nil {
			add(runtime.VerdictRefuse, "user", "%v", err)
			return out
		}
		cred = c
		if err := commandInProject(projectDir, svc.Process); err != nil {
			add(runtime.VerdictRefuse, "x-quai.process.command", "%v: build it first (the project's README or Makefile says how), then run the command again", err)
			return out
		}
		if len(svc.Command) > 0 || len(svc.Entrypoint) > 0 {
			add(runtime.VerdictIgnore, "command", "the image's entrypoint and command are not run: x-quai.process.command (%s) is", strings.Join(svc.Process.Command, " "))
		}
		if svc.WorkingDir != "" {
			add(runtime.VerdictIgnore, "working_dir", "working_dir %s is a path in the image: the command runs in the project directory (or x-quai.process.dir)", svc.WorkingDir)
		}
	}
	root := cred == nil && os.Geteuid() == 0 || cred != nil && cred.UID == 0
	if svc.ReadOnly {
		add(runtime.VerdictIgnore, "read_only", "there is no read-only root file system without a container: the service may write wherever its user may")
	}
	if len(svc.CapDrop) > 0 && root {
		add(runtime.VerdictIgnore, "cap_drop", "the service runs as root, with every capability: set user: to a non-root user, which holds none")
	}
	if len(svc.CapAdd) > 0 {
		if root {
			add(runtime.VerdictIgnore, "cap_add", "the service runs as root, which holds every capability already")
		} else {
			add(runtime.VerdictIgnore, "cap_add", "capabilities %s are not granted: a process of a non-root user holds none", strings.Join(svc.CapAdd, ", "))
		}
	}
	if svc.Privileged {
		add(runtime.VerdictIgnore, "privileged", "there is no container to make privileged: the service has its user's rights")
	}
	for key, v := range map[string]string{"network_mode": svc.NetworkMode, "pid": svc.Pid, "ipc": svc.Ipc} {
		if v != "" {
			add(runtime.VerdictIgnore, key, "%s: %s is not applied: every replica shares the host's namespaces", key, v)
		}
	}
	if svc.Resources.MilliCPU > 0 || svc.Resources.MemoryBytes > 0 {
		if reason := r.cgroups().reason; reason != "" {
			add(runtime.VerdictIgnore, limitsSetting(svc), "%s are not enforced: %s", describeLimits(svc.Resources), reason)
		}
	}
	for _, p := range svc.Ports {
		if p.Published == "" {
			continue
		}
		add(runtime.VerdictChange, "ports", "port %s:%d is not published: each replica listens on 127.0.0.1:$PORT (a free port quai chooses); reach it through an x-quai route or quai exec", p.Published, p.Target)
	}
	for _, mt := range svc.Mounts {
		if mt.ReadOnly {
			add(runtime.VerdictIgnore, "volumes", "the mount at %s is not read-only: the service sees a directory it may write", mt.Target)
		}
	}
	if why := svc.MetricsNotScraped(); why != "" {
		add(runtime.VerdictIgnore, stack.Extension+".metrics.port", "%s", why)
	}
	return out
}

// limitsSetting is the key the service's limits come from.
func limitsSetting(svc *stack.Service) string {
	if svc.Size != "" {
		return stack.Extension + ".size"
	}
	return "deploy.resources.limits"
}

func describeLimits(res stack.Resources) string {
	var parts []string
	if res.MilliCPU > 0 {
		parts = append(parts, fmt.Sprintf("cpus %g", float64(res.MilliCPU)/1000))
	}
	if res.MemoryBytes > 0 {
		parts = append(parts, "memory "+formatBytes(res.MemoryBytes))
	}
	return "limits (" + strings.Join(parts, ", ") + ")"
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGi", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMi", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// serverBinary is the server binary a database kind runs from.
func (r *Runtime) serverBinary(kind string) (string, error) {
	found, err := r.findBins(serverBinaries[kind]...)
	if err != nil {
		return "", err
	}
	return found[0], nil
}

// products names what each kind's server binary is.
var products = map[string]string{kindPostgres: "PostgreSQL", kindMySQL: "MySQL", kindRedis: "Redis"}

// hostServer says which host server runs image and whether its version is
// the one the image's tag asks for.
func (r *Runtime) hostServer(image, kind, bin string) string {
	product := products[kind]
	ver, full := r.serverVersion(bin)
	if strings.Contains(full, "MariaDB") || strings.HasPrefix(filepath.Base(bin), "mariadb") {
		product = "MariaDB"
	}
	if ver == "" {
		return fmt.Sprintf("image %s is not run: the host's %s server %s is (its version could not be read)", image, product, bin)
	}
	msg := fmt.Sprintf("image %s is not run: the host's %s %s is (%s)", image, product, ver, bin)
	tag := imageTag(image)
	name := imageName(image)
	switch {
	case name == "mysql" && product == "MariaDB":
		return msg + "; MariaDB stands in for MySQL, which differs in features and data files: deploy with --runtime docker to run the image itself"
	case tag != "" && !versionMatches(tag, ver):
		return msg + fmt.Sprintf(", not %s: data files may not move between the two; install %s %s or deploy with --runtime docker", tag, product, tag)
	}
	return msg
}

// imageName is the image's repository name without registry, path and tag.
func imageName(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndexByte(image, '/'); i >= 0 {
		image = image[i+1:]
	}
	name, _, _ := strings.Cut(image, ":")
	return name
}

var tagVersion = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*`)

// imageTag is the version an image's tag asks for ("15" of postgres:15-alpine),
// or "" for latest, a digest or a tag without a version.
func imageTag(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndexByte(image, '/'); i >= 0 {
		image = image[i+1:]
	}
	_, tag, ok := strings.Cut(image, ":")
	if !ok {
		return ""
	}
	return tagVersion.FindString(tag)
}

// versionMatches reports whether the host version ver is one the tag asks
// for: 15 matches 15.18, 10.11 matches 10.11.6, 11 does not match 10.11.6.
func versionMatches(tag, ver string) bool {
	t, v := strings.Split(tag, "."), strings.Split(ver, ".")
	if len(t) > len(v) {
		return false
	}
	for i := range t {
		if t[i] != v[i] {
			return false
		}
	}
	return true
}

var versionRE = regexp.MustCompile(`[0-9]+\.[0-9]+(\.[0-9]+)?`)

// binVersion is a server binary's version, cached while the binary keeps
// its modification time and size.
type binVersion struct {
	mod        time.Time
	size       int64
	ver, full  string
	readFailed bool
}

// serverVersion runs bin --version (once per binary file) and returns the
// version it prints and its first line.
func (r *Runtime) serverVersion(bin string) (ver, full string) {
	fi, err := os.Stat(bin)
	if err != nil {
		return "", ""
	}
	r.versionMu.Lock()
	defer r.versionMu.Unlock()
	if v, ok := r.versions[bin]; ok && v.mod.Equal(fi.ModTime()) && v.size == fi.Size() {
		return v.ver, v.full
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := exec.CommandContext(ctx, bin, "--version").Output()
	v := binVersion{mod: fi.ModTime(), size: fi.Size(), readFailed: err != nil}
	if err == nil {
		first, _, _ := strings.Cut(string(b), "\n")
		v.full = strings.TrimSpace(first)
		// "mariadbd  Ver 10.11.6-MariaDB", "postgres (PostgreSQL) 16.4",
		// "Redis server v=7.0.15".
		v.ver = versionRE.FindString(v.full)
	}
	if r.versions == nil {
		r.versions = map[string]binVersion{}
	}
	r.versions[bin] = v
	return v.ver, v.full
}

// commandInProject checks a command given as a path in the project (such
// as ./bin/api, which a build makes) before anything starts; commands
// found through PATH or run by a shell are checked when the replica starts.
func commandInProject(projectDir string, p *stack.Process) error {
	argv := commandArgv(p.Command)
	name := argv[0]
	if projectDir == "" || len(argv) != len(p.Command) || !strings.Contains(name, "/") || filepath.IsAbs(name) {
		return nil
	}
	dir := projectDir
	if p.Dir != "" {
		dir = p.Dir
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(projectDir, dir)
		}
	}
	path := filepath.Join(dir, name)
	if err := executable(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = errors.New("no such file")
		}
		return fmt.Errorf("command %s (%s) cannot run: %w", name, path, err)
	}
	return nil
}
