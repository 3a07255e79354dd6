package process

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/quai-dev/quai/internal/stack"
)

// Limits are enforced with cgroup v2, the way Docker's cgroupfs driver
// does: a root daemon keeps a "quai" cgroup at the top of the unified
// hierarchy with the memory and cpu controllers enabled for its children,
// and gives each replica with limits a child (quai/<slug>.<replica>) with
// memory.max and cpu.max set, into which the supervisor starts the app
// (clone3 with CLONE_INTO_CGROUP), so the app and everything it forks are
// held to the limits from their first instruction. The supervisor itself,
// health checks and exec commands stay outside.
//
// Where that is not possible (cgroup v1 or hybrid hosts whose memory and cpu
// controllers are bound to v1, a daemon that is not root, a cgroup
// namespace whose root holds processes) the limits are reported as ignored
// in the plan, with the reason.

// cgroupSupport is what the probe found: dir is the parent cgroup of the
// replicas' cgroups, or "" with reason saying why limits are not enforced.
type cgroupSupport struct {
	dir    string
	reason string
}

// cgroupParent is the cgroup, below the unified hierarchy's root, that holds
// the replicas' cgroups.
const cgroupParent = "quai"

// cgroups probes once for cgroup v2 limits.
func (r *Runtime) cgroups() cgroupSupport {
	r.cgroupOnce.Do(func() { r.cgroup = probeCgroups("/proc/self/mountinfo", os.Geteuid()) })
	return r.cgroup
}

// probeCgroups finds the cgroup v2 hierarchy in mountinfo and prepares the
// parent cgroup of the replicas' cgroups.
func probeCgroups(mountinfo string, euid int) cgroupSupport {
	mnt, err := cgroup2Mount(mountinfo)
	if err != nil {
		return cgroupSupport{reason: err.Error()}
	}
	ctrls, err := os.ReadFile(filepath.Join(mnt, "cgroup.controllers"))
	if err != nil {
		return cgroupSupport{reason: fmt.Sprintf("cannot read the cgroup v2 controllers: %v", err)}
	}
	have := strings.Fields(string(ctrls))
	if !slices.Contains(have, "memory") || !slices.Contains(have, "cpu") {
		offered := "no controller"
		if len(have) > 0 {
			offered = "only " + strings.Join(have, ", ")
		}
		return cgroupSupport{reason: fmt.Sprintf("the cgroup v2 hierarchy at %s offers %s, not memory and cpu, which this host binds to cgroup v1 hierarchies (hybrid mode); boot with systemd.unified_cgroup_hierarchy=1 (cgroup v2 only) to enforce them", mnt, offered)}
	}
	if euid != 0 {
		return cgroupSupport{reason: fmt.Sprintf("the quai daemon runs as uid %d and only root may create cgroups under %s: run the daemon as root", euid, mnt)}
	}
	dir := filepath.Join(mnt, cgroupParent)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return cgroupSupport{reason: fmt.Sprintf("cannot create the cgroup %s: %v", dir, err)}
	}
	for _, d := range []string{mnt, dir} {
		if err := enableControllers(d); err != nil {
			return cgroupSupport{reason: fmt.Sprintf("cannot enable the memory and cpu controllers in %s/cgroup.subtree_control (a cgroup that holds processes cannot delegate them; run the daemon in the host's cgroup namespace): %v", d, err)}
		}
	}
	return cgroupSupport{dir: dir}
}

func enableControllers(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	on := strings.Fields(string(b))
	if slices.Contains(on, "memory") && slices.Contains(on, "cpu") {
		return nil
	}
	return os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory +cpu"), 0o644)
}

// cgroup2Mount returns where the cgroup v2 hierarchy is mounted: the
// first cgroup2 mount in mountinfo (/sys/fs/cgroup on a v2 host,
// /sys/fs/cgroup/unified on a hybrid one).
func cgroup2Mount(mountinfo string) (string, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return "", fmt.Errorf("cannot read %s to find cgroup v2: %w", mountinfo, err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "36 25 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw"
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, after := strings.Fields(pre), strings.Fields(post)
		if ok && len(fields) >= 5 && len(after) > 0 && after[0] == "cgroup2" {
			return unescapeMount(fields[4]), nil
		}
	}
	return "", errors.New("no cgroup v2 file system is mounted (this host runs cgroup v1 only)")
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

// replicaCgroup creates the cgroup of a replica with limits and sets them;
// it returns "" when the service has none or limits are not enforced (the
// plan said so).
func (r *Runtime) replicaCgroup(id stack.Identity, replica string, res stack.Resources) (string, error) {
	cg := r.cgroups()
	if cg.dir == "" || (res.MemoryBytes <= 0 && res.MilliCPU <= 0) {
		return "", nil
	}
	dir := filepath.Join(cg.dir, id.Slug()+"."+replica)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("create the cgroup of replica %s: %w", replica, err)
	}
	if res.MemoryBytes > 0 {
		if err := os.WriteFile(filepath.Join(dir, "memory.max"), []byte(strconv.FormatInt(res.MemoryBytes, 10)), 0o644); err != nil {
			return "", fmt.Errorf("set the memory limit of replica %s: %w", replica, err)
		}
	}
	if res.MilliCPU > 0 {
		// cpu.max is "quota period" in microseconds: 100ms periods.
		quota := max(res.MilliCPU*100, 1000) // the kernel's least quota is 1ms
		if err := os.WriteFile(filepath.Join(dir, "cpu.max"), []byte(fmt.Sprintf("%d 100000", quota)), 0o644); err != nil {
			return "", fmt.Errorf("set the cpu limit of replica %s: %w", replica, err)
		}
	}
	return dir, nil
}
