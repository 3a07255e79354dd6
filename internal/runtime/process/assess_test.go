package process_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// verdicts indexes findings by service and setting.
func verdicts(fs []runtime.Finding) map[string]runtime.Finding {
	out := map[string]runtime.Finding{}
	for _, f := range fs {
		out[f.Service+" "+f.Setting] = f
	}
	return out
}

// TestAssess: what the process runtime says of a stack, on this host,
// before anything starts: an image-only service and an unknown user are
// refused, container-only settings are ignored, published ports changed,
// limits ignored exactly when the runtime does not enforce them, and a
// database image names the host server that runs instead.
func TestAssess(t *testing.T) {
	rt := newRuntime(t, t.TempDir(), nil)
	cmd := &stack.Process{Command: []string{"sleep", "1"}}
	m := &stack.Model{Identity: testID, Services: []*stack.Service{
		{Name: "cache", Image: "valkey/valkey:8"},
		{Name: "built", Build: &stack.Build{Context: "."}},
		{Name: "ghost", User: "no-such-user-here", Process: cmd},
		{Name: "api", ReadOnly: true, CapDrop: []string{"ALL"}, CapAdd: []string{"NET_ADMIN"}, NetworkMode: "host",
			Ports:     []stack.Port{{Target: 80, Published: "8080"}, {Target: 81}},
			Resources: stack.Resources{MilliCPU: 500, MemoryBytes: 256 << 20}, Process: cmd,
			// A metrics port other than the replica's own would name a
			// port of the host (another instance's): never scraped.
			Metrics: &stack.MetricsEndpoint{Port: 9100, Path: "/metrics"}},
		{Name: "plain", Process: cmd, Ports: []stack.Port{{Target: 8080}}, Metrics: &stack.MetricsEndpoint{Port: 8080, Path: "/metrics"}},
	}}
	got := verdicts(rt.Assess(m))
	for key, want := range map[string]runtime.Verdict{
		"cache x-quai.process.command": runtime.VerdictRefuse,
		"built x-quai.process.command": runtime.VerdictRefuse,
		"ghost user":                   runtime.VerdictRefuse,
		"api read_only":                runtime.VerdictIgnore,
		"api cap_add":                  runtime.VerdictIgnore,
		"api network_mode":             runtime.VerdictIgnore,
		"api ports":                    runtime.VerdictChange,
		"api x-quai.metrics.port":      runtime.VerdictIgnore,
	} {
		if got[key].Verdict != want {
			t.Errorf("%s: %+v, want verdict %s", key, got[key], want)
		}
	}
	if f := got["cache x-quai.process.command"]; !strings.Contains(f.Message, "valkey/valkey:8") || !strings.Contains(f.Message, "--runtime docker") {
		t.Errorf("the refusal of an image-only service does not name the image and the way out: %q", f.Message)
	}
	if f := got["api x-quai.metrics.port"]; !strings.Contains(f.Message, "9100") || !strings.Contains(f.Message, "container port 80") {
		t.Errorf("the unscraped metrics port finding does not name both ports: %q", f.Message)
	}
	if f := got["api ports"]; !strings.Contains(f.Message, "8080:80") {
		t.Errorf("the published port finding does not name the port: %q", f.Message)
	}
	// cap_drop is moot for a non-root user and ignored for root.
	if _, listed := got["api cap_drop"]; listed != (os.Geteuid() == 0) {
		t.Errorf("cap_drop of a service without user: listed %v, want it listed exactly when the daemon (and so the app) is root", listed)
	}
	_, limitsListed := got["api deploy.resources.limits"]
	if enforced := rt.Capabilities().Limits; limitsListed == enforced {
		t.Errorf("limits listed as ignored: %v, but the runtime enforces limits: %v", limitsListed, enforced)
	}
	if limitsListed && !strings.Contains(got["api deploy.resources.limits"].Message, "cgroup") {
		t.Errorf("ignored limits without the reason: %q", got["api deploy.resources.limits"].Message)
	}
	for key := range got {
		if strings.HasPrefix(key, "plain ") {
			t.Errorf("a plain service with a command gets a finding: %+v", got[key])
		}
	}
}

// TestAssessDatabaseImage names the host's server and its version for a
// database image, and says when the version is not the one the tag asks for.
func TestAssessDatabaseImage(t *testing.T) {
	rt := newRuntime(t, t.TempDir(), nil)
	m := &stack.Model{Identity: testID, Services: []*stack.Service{{Name: "db", Image: "mariadb:11"}, {Name: "old", Image: "mariadb:10.11"}}}
	got := verdicts(rt.Assess(m))
	f := got["db image"]
	if f.Verdict == runtime.VerdictRefuse {
		if !f.Missing || !strings.Contains(f.Message, "apt-get install mariadb-server") {
			t.Errorf("no MariaDB on this host: the refusal %+v does not say what to install", f)
		}
		t.Skip("no MariaDB server on this host: " + f.Message)
	}
	if f.Verdict != runtime.VerdictChange || !strings.Contains(f.Message, "the host's ") {
		t.Fatalf("db image: %+v, want a change naming the host's server", f)
	}
	out, _ := runVersion(t, f.Message)
	if strings.HasPrefix(out, "11") == strings.Contains(f.Message, ", not 11") {
		t.Errorf("the host runs %s for mariadb:11, and the finding says %q", out, f.Message)
	}
	if o := got["old image"]; strings.HasPrefix(out, "10.11.") && strings.Contains(o.Message, ", not ") {
		t.Errorf("the host runs %s, which mariadb:10.11 asks for, yet: %q", out, o.Message)
	}
}

// runVersion finds the binary a finding names ("(/usr/sbin/mariadbd)")
// and returns the version in the finding, checked against the binary's
// own --version.
func runVersion(t *testing.T, msg string) (string, string) {
	t.Helper()
	i, j := strings.Index(msg, "is ("), strings.Index(msg, ")")
	if i < 0 || j < i {
		t.Fatalf("no binary in %q", msg)
	}
	bin := msg[i+4 : j]
	words := strings.Fields(msg[:i])
	ver := words[len(words)-1]
	b, err := osExec(bin, "--version")
	if err != nil || !strings.Contains(b, ver) {
		t.Fatalf("%s --version = %q (%v), the finding says %s", bin, b, err, ver)
	}
	return ver, bin
}

// TestUserSeenInProc: the replica's process runs as the service's user,
// as the kernel sees it (/proc/PID/status), with no capabilities left.
func TestUserSeenInProc(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("switching users needs a root daemon")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no nobody user on this host")
	}
	dataDir := t.TempDir()
	worldSearchable(t, dataDir)
	killLeftovers(t, dataDir)
	rt := newRuntime(t, dataDir, nil)
	h, err := rt.Start(context.Background(), runtime.ReplicaSpec{Instance: testID, Replica: "api-1", Index: 1, Release: 1, ProjectDir: "/",
		Service: &stack.Service{Name: "api", User: "nobody", CapDrop: []string{"ALL"}, Process: &stack.Process{Command: []string{"exec sleep 300"}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Remove(context.Background(), h) })
	state := filepath.Join(dataDir, "instances", testID.Slug(), "replicas", "api-1", "state")
	var pid int
	for deadline := time.Now().Add(30 * time.Second); pid == 0; time.Sleep(20 * time.Millisecond) {
		var st struct {
			AppPid int `json:"app_pid"`
		}
		if b, err := os.ReadFile(state); err == nil && json.Unmarshal(b, &st) == nil {
			pid = st.AppPid
		}
		if time.Now().After(deadline) {
			t.Fatal("the app never started")
		}
	}
	b, err := os.ReadFile(filepath.Join("/proc", itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			fields[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	wantID := strings.Repeat(nobody.Uid+" ", 4)
	if fields["Uid"] != strings.TrimSpace(wantID) {
		t.Errorf("the app runs with Uid %q, want nobody's (%s) as real, effective, saved and fs uid", fields["Uid"], nobody.Uid)
	}
	if fields["CapEff"] != "0000000000000000" || fields["CapPrm"] != "0000000000000000" {
		t.Errorf("the app of a non-root user holds capabilities: CapEff %s CapPrm %s", fields["CapEff"], fields["CapPrm"])
	}
	// What the plan says: nothing of user: or cap_drop is ignored.
	for _, f := range rt.Assess(&stack.Model{Identity: testID, Services: []*stack.Service{{Name: "api", User: "nobody", CapDrop: []string{"ALL"},
		Process: &stack.Process{Command: []string{"sleep"}}}}}) {
		t.Errorf("the plan lists %+v for a setting the runtime honours", f)
	}
}

func osExec(name string, args ...string) (string, error) {
	b, err := exec.Command(name, args...).Output()
	return string(b), err
}

// TestAssessRefusesACommandTheProjectHasNotBuilt: a command given as a path
// in the project (./bin/api, made by a build) that is not there yet is
// refused at plan time, naming the path and what to do; one that is there
// is not.
func TestAssessRefusesACommandTheProjectHasNotBuilt(t *testing.T) {
	rt := newRuntime(t, t.TempDir(), nil)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "web"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	m := &stack.Model{Identity: testID, Dir: dir, Services: []*stack.Service{
		{Name: "api", Process: &stack.Process{Command: []string{"./bin/api"}}},
		{Name: "web", Process: &stack.Process{Command: []string{"./bin/web"}}},
		{Name: "sub", Process: &stack.Process{Command: []string{"../bin/web"}, Dir: "bin"}},
		{Name: "shell", Process: &stack.Process{Command: []string{"exec ./bin/none --flag"}}},
	}}
	got := verdicts(rt.Assess(m))
	f := got["api x-quai.process.command"]
	if f.Verdict != runtime.VerdictRefuse || !strings.Contains(f.Message, filepath.Join(dir, "bin", "api")) || !strings.Contains(f.Message, "build it first") {
		t.Errorf("a missing ./bin/api: %+v, want a refusal naming the path and the build", f)
	}
	for _, svc := range []string{"web", "sub", "shell"} {
		if f, ok := got[svc+" x-quai.process.command"]; ok {
			t.Errorf("%s: refused although its command is there (or run by a shell): %+v", svc, f)
		}
	}
}
