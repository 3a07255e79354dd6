package kubetest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a process the cluster started.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// run starts a cluster process with its output in logs/<name>.log.
func (c *Cluster) run(name, bin string, args ...string) (*proc, error) {
	return c.runEnv(name, bin, nil, args...)
}

// runEnv is run with env added to the test's environment.
func (c *Cluster) runEnv(name, bin string, env []string, args ...string) (*proc, error) {
	logPath := c.path("logs", name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = c.Dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	// Its own process group, so a stop reaches helpers it forks; killed
	// with the test binary, so a crashed test leaves no cluster behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	c.procs = append(c.procs, p)
	return p, nil
}

// tail returns the last n lines of the process's log.
func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// LogTail returns the last n lines of a component's log (etcd,
// kube-apiserver, kubelet, containerd, ...), for failure messages.
func (c *Cluster) LogTail(name string, n int) string {
	for _, p := range c.procs {
		if p.name == name {
			return p.tail(n)
		}
	}
	return ""
}

// stop sends SIGTERM to the process group, and SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

func (c *Cluster) proc(name string) *proc {
	for _, p := range c.procs {
		if p.name == name {
			return p
		}
	}
	return nil
}

// cleanup stops the cluster's processes and removes what it created. It
// runs before a start as well, for what a crashed run left behind, so it
// finds everything from fixed names: the directory, the cgroup root, the
// bridge and the iptables chain.
func (c *Cluster) cleanup() error {
	var errs []error
	// Controllers first, so nothing recreates pods while they are killed.
	for _, n := range []string{"traefik", "kube-proxy", "kube-scheduler", "kube-controller-manager", "kubelet"} {
		if p := c.proc(n); p != nil {
			p.stop(10 * time.Second)
		}
	}
	errs = append(errs, killCgroup())
	errs = append(errs, c.killShims())
	if p := c.proc("containerd"); p != nil {
		p.stop(10 * time.Second)
	}
	for _, n := range []string{"kube-apiserver", "etcd"} {
		if p := c.proc(n); p != nil {
			p.stop(10 * time.Second)
		}
	}
	c.procs = nil
	errs = append(errs, c.removeIptables())
	errs = append(errs, unmountUnder(c.Dir))
	errs = append(errs, removeBridge())
	errs = append(errs, removeCgroupRoot())
	errs = append(errs, c.removeHostLeftovers())
	if os.Getenv("QUAI_KUBE_KEEP") == "" {
		if err := os.RemoveAll(c.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// cgroupDirs lists the cluster's cgroup root in every mounted hierarchy
// (cgroup v1 has one per controller, v2 one in all).
func cgroupDirs() []string {
	var out []string
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{filepath.Join("/sys/fs/cgroup", cgroupRoot)}
	}
	ents, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return nil
	}
	for _, e := range ents {
		if e.Type()&fs.ModeSymlink != 0 || !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", e.Name(), "cgroup.procs")); err == nil {
			out = append(out, filepath.Join("/sys/fs/cgroup", e.Name(), cgroupRoot))
		}
	}
	return out
}

// makeCgroupRoot creates the kubelet's cgroup root, which must exist in
// every hierarchy before it starts.
func makeCgroupRoot() error {
	for _, d := range cgroupDirs() {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		// A new cpuset cgroup has no CPUs or memory nodes: inherit them.
		parent, err := os.OpenRoot(filepath.Dir(d))
		if err != nil {
			return err
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			b, err := parent.ReadFile(f)
			if err != nil {
				continue
			}
			if err := parent.WriteFile(filepath.Join(cgroupRoot, f), b, 0o644); err != nil {
				_ = parent.Close()
				return fmt.Errorf("cgroup %s: %w", d, err)
			}
		}
		_ = parent.Close()
	}
	return nil
}

// killCgroup kills every process of every pod: they all live below the
// cluster's cgroup root.
func killCgroup() error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		var pids []int
		for _, root := range cgroupDirs() {
			r, err := os.OpenRoot(root)
			if err != nil {
				continue
			}
			_ = fs.WalkDir(r.FS(), ".", func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
					return nil
				}
				b, err := r.ReadFile(p)
				if err != nil {
					return nil
				}
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil {
						pids = append(pids, pid)
					}
				}
				return nil
			})
			_ = r.Close()
		}
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pod processes survive SIGKILL: %v", pids)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func removeCgroupRoot() error {
	var errs []error
	for _, root := range cgroupDirs() {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		// Children before parents.
		slices.SortFunc(dirs, func(a, b string) int { return len(b) - len(a) })
		for _, d := range dirs {
			if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}

// killShims kills the containerd shims of the cluster's containerd, found
// by the socket address they were given.
func (c *Cluster) killShims() error {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := bytes.Split(b, []byte{0})
		if len(args) == 0 || !bytes.Contains(args[0], []byte("containerd-shim")) {
			continue
		}
		if bytes.Contains(b, []byte(c.Dir+"/")) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return nil
}

// unmountUnder detaches every mount below dir, deepest first: container
// root file systems, pod volumes, network namespaces.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	var points []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if strings.HasPrefix(mp, dir+"/") {
			points = append(points, mp)
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeHostLeftovers removes what the kubelet and CNI write outside the
// cluster directory: container log links and cached CNI results.
func (c *Cluster) removeHostLeftovers() error {
	if ents, err := os.ReadDir("/var/log/containers"); err == nil {
		for _, e := range ents {
			p := filepath.Join("/var/log/containers", e.Name())
			if t, err := os.Readlink(p); err == nil && strings.HasPrefix(t, c.Dir+"/") {
				_ = os.Remove(p)
			}
		}
	}
	if ents, err := os.ReadDir("/var/lib/cni/results"); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), cniNetwork+"-") {
				_ = os.Remove(filepath.Join("/var/lib/cni/results", e.Name()))
			}
		}
	}
	return nil
}

func command(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
