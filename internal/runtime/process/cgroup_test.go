package process

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/stack"
)

// TestProbeCgroups walks the probe's decisions over made-up mountinfo
// files and cgroup directories: a v1-only host, a hybrid host whose v2
// hierarchy lacks memory and cpu (this CI machine's case), a daemon that is
// not root, and a v2 host where the parent cgroup is prepared.
func TestProbeCgroups(t *testing.T) {
	mountinfo := func(t *testing.T, lines ...string) string {
		p := filepath.Join(t.TempDir(), "mountinfo")
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hierarchy := func(t *testing.T, controllers string) string {
		d := t.TempDir()
		for f, v := range map[string]string{"cgroup.controllers": controllers, "cgroup.subtree_control": ""} {
			if err := os.WriteFile(filepath.Join(d, f), []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	v1 := "30 25 0:27 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory"
	t.Run("v1 only", func(t *testing.T) {
		if cg := probeCgroups(mountinfo(t, v1), 0); cg.dir != "" || !strings.Contains(cg.reason, "no cgroup v2") {
			t.Errorf("probe = %+v, want no cgroup v2", cg)
		}
	})
	t.Run("hybrid", func(t *testing.T) {
		d := hierarchy(t, "hugetlb\n")
		cg := probeCgroups(mountinfo(t, v1, "31 25 0:28 / "+d+" rw,relatime - cgroup2 cgroup2 rw"), 0)
		if cg.dir != "" || !strings.Contains(cg.reason, "offers only hugetlb, not memory and cpu") || !strings.Contains(cg.reason, d) {
			t.Errorf("probe = %+v, want the controllers the hierarchy offers", cg)
		}
	})
	t.Run("not root", func(t *testing.T) {
		d := hierarchy(t, "cpuset cpu io memory pids\n")
		if cg := probeCgroups(mountinfo(t, "31 25 0:28 / "+d+" rw - cgroup2 cgroup2 rw"), 1000); cg.dir != "" || !strings.Contains(cg.reason, "uid 1000") {
			t.Errorf("probe = %+v, want a refusal for a non-root daemon", cg)
		}
	})
	t.Run("v2", func(t *testing.T) {
		d := hierarchy(t, "cpuset cpu io memory pids\n")
		// The kernel gives a new cgroup its files; a plain directory has none.
		if err := os.MkdirAll(filepath.Join(d, cgroupParent), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, cgroupParent, "cgroup.subtree_control"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		cg := probeCgroups(mountinfo(t, "31 25 0:28 / "+d+" rw - cgroup2 cgroup2 rw"), 0)
		if cg.reason != "" || cg.dir != filepath.Join(d, cgroupParent) {
			t.Fatalf("probe = %+v, want limits enforced under %s/quai", cg, d)
		}
		for _, dir := range []string{d, cg.dir} {
			if b, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control")); string(b) != "+memory +cpu" {
				t.Errorf("%s/cgroup.subtree_control = %q, want the controllers enabled", dir, b)
			}
		}
		r := &Runtime{}
		r.cgroupOnce.Do(func() { r.cgroup = cg })
		got, err := r.replicaCgroup(stack.Identity{Project: "p", Env: "e"}, "web-1", stack.Resources{MilliCPU: 1500, MemoryBytes: 64 << 20})
		if err != nil {
			t.Fatal(err)
		}
		for f, want := range map[string]string{"memory.max": "67108864", "cpu.max": "150000 100000"} {
			if b, _ := os.ReadFile(filepath.Join(got, f)); string(b) != want {
				t.Errorf("%s = %q, want %q", f, b, want)
			}
		}
		if got, _ := r.replicaCgroup(stack.Identity{Project: "p", Env: "e"}, "web-2", stack.Resources{}); got != "" {
			t.Errorf("a replica without limits gets cgroup %s", got)
		}
	})
	// This host, as it is: either limits are enforced or the plan says why.
	host := probeCgroups("/proc/self/mountinfo", os.Geteuid())
	if (host.dir == "") == (host.reason == "") {
		t.Errorf("probe of this host = %+v: want a cgroup or a reason, exactly one", host)
	}
	t.Logf("this host: dir %q, reason %q", host.dir, host.reason)
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/mnt/with\040space`); got != "/mnt/with space" {
		t.Errorf("unescapeMount = %q", got)
	}
}
