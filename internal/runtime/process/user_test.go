package process_test

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/datadir"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/logfile"
	"github.com/quai-dev/quai/internal/stack"
)

// TestUserIsHonoured runs a real shell as `user: nobody`: the app, its
// health check and exec all run as nobody, with nobody's HOME and none of
// root's groups, and the secrets it reads belong to it.
func TestUserIsHonoured(t *testing.T) {
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
	// A replica of the daemon's own user first makes the run directories
	// private; nobody's replica must still reach its secrets through them.
	first, err := rt.Start(context.Background(), runtime.ReplicaSpec{Instance: testID, Replica: "first-1", Index: 1, Release: 1, ProjectDir: "/",
		Secrets: map[string][]byte{"own": []byte("x")},
		Service: &stack.Service{Name: "first", Process: &stack.Process{Command: []string{"exec sleep 300"}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Remove(context.Background(), first) })
	rs := runtime.ReplicaSpec{Instance: testID, Replica: "web-1", Index: 1, Release: 1, ProjectDir: "/",
		Secrets: map[string][]byte{"token": []byte("t0k")},
		Service: &stack.Service{Name: "web", User: "nobody",
			Healthcheck: &stack.Healthcheck{Test: []string{"CMD-SHELL", `test "$(id -u)" = ` + nobody.Uid}},
			Process: &stack.Process{Command: []string{
				`echo "uid=$(id -u) gid=$(id -g) groups=$(id -G) home=$HOME user=$USER token=$(cat $TOKEN_FILE)"; exec sleep 300`}}}}
	h, err := rt.Start(context.Background(), rs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Remove(context.Background(), h) })

	log := logfile.Path(filepath.Join(dataDir, "instances", testID.Slug(), "logs", "web"), "web-1")
	want := "uid=" + nobody.Uid + " gid=" + nobody.Gid + " groups=" + nobody.Gid + " home=" + nobody.HomeDir + " user=nobody token=t0k"
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(log)
		if strings.Contains(string(b), want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app printed %q, want a line with %q", b, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitHealthy(t, rt, h)

	var out strings.Builder
	code, err := rt.Exec(context.Background(), h, runtime.ExecOptions{Cmd: []string{"sh", "-c", "id -u; echo $HOME"}, Stdout: &out, Stderr: &out})
	if err != nil || code != 0 || out.String() != nobody.Uid+"\n"+nobody.HomeDir+"\n" {
		t.Errorf("exec = %q, %d, %v; want nobody's uid and home", out.String(), code, err)
	}
	secrets := filepath.Join(datadir.RunDir(dataDir, os.Getenv, os.Geteuid()), testID.Slug(), "web-1", "secrets", "token")
	fi, err := os.Stat(secrets)
	if err != nil {
		t.Fatal(err)
	}
	if uid := fi.Sys().(*syscall.Stat_t).Uid; itoa(int(uid)) != nobody.Uid {
		t.Errorf("the secret file belongs to uid %d, want nobody", uid)
	}
}
