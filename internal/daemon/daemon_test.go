package daemon_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/daemon"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

func TestMain(m *testing.M) { daemontest.Main(m) }

func TestSocketIsPrivateAndRefusesBrowsers(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	fi, err := os.Stat(d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, want a socket with 0600", fi.Mode())
	}
	info, err := d.Client.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.PID != os.Getpid() || info.DataDir != d.DataDir || info.Socket != d.Socket || info.HTTPAddr == "" || strings.HasSuffix(info.HTTPAddr, ":0") {
		t.Errorf("info = %+v; want this process, its paths and the bound proxy address", info)
	}

	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", d.Socket)
	}}}
	// A browser gives itself away by Origin or Sec-Fetch-Site; a request a
	// local forwarder passed on (DNS rebinding included) by its Host.
	for _, tt := range []struct {
		name, host, header, value string
		want                      int
	}{
		{"quai client", "quai", "", "", http.StatusOK},
		{"Origin", "quai", "Origin", "http://localhost:3000", http.StatusForbidden},
		{"Sec-Fetch-Site", "quai", "Sec-Fetch-Site", "same-origin", http.StatusForbidden},
		{"Sec-Fetch-Site none", "quai", "Sec-Fetch-Site", "none", http.StatusForbidden},
		{"forwarded to localhost", "localhost:8080", "", "", http.StatusForbidden},
		{"rebound name", "evil.example", "", "", http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, "http://quai/api/v1/instances", nil)
			req.Host = tt.host
			if tt.header != "" {
				req.Header.Set(tt.header, tt.value)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want != http.StatusForbidden {
				return
			}
			var e struct {
				Error struct{ Code, Message, Hint string }
			}
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Error.Code != "forbidden" || e.Error.Message == "" || e.Error.Hint == "" {
				t.Errorf("body = %+v, %v; want the JSON error shape with code forbidden", e, err)
			}
		})
	}
}

func TestSecondDaemonOnTheSameDataDirIsRefused(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	second, err := daemon.New(daemon.Config{DataDir: d.DataDir, Socket: d.Socket + "2", HTTPAddr: "127.0.0.1:0", HTTPSAddr: "off"})
	if err != nil {
		t.Fatal(err)
	}
	err = second.Start(context.Background())
	if !errors.Is(err, daemon.ErrLocked) {
		t.Fatalf("second daemon: err = %v, want ErrLocked", err)
	}
	// The first one still answers.
	if _, err := d.Client.Info(context.Background()); err != nil {
		t.Fatalf("first daemon after the refused second: %v", err)
	}
}

func TestShutdownRemovesSocketAndFreesDataDir(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{KeepInstances: true})
	d.Stop()
	if _, err := os.Stat(d.Socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket after shutdown: %v, want it gone", err)
	}
	if _, err := d.Client.Info(context.Background()); !errors.Is(err, client.ErrDaemonNotRunning) {
		t.Errorf("client after shutdown: %v, want ErrDaemonNotRunning", err)
	}
	// A new daemon takes over the same data directory.
	daemontest.Start(t, daemontest.Options{DataDir: d.DataDir})
}

func deploy(t *testing.T, d *daemontest.Daemon, app daemontest.App) wire.InstanceStatus {
	t.Helper()
	ctx := context.Background()
	m, err := stack.Load(ctx, stack.Options{Dir: daemontest.AppProject(t, app), Env: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := wire.NewModelPayload(m, m.Resolved)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Client.Up(ctx, payload, client.UpOptions{}, nil); err != nil {
		t.Fatalf("up: %v", err)
	}
	st, err := d.Client.Status(ctx, m.Identity.Name())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func get(t *testing.T, url string, host string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s %v", url, resp.StatusCode, b, err)
	}
	return string(b)
}

// TestAppsOutliveTheDaemon stops the daemon as SIGTERM would and checks
// that the app keeps serving, then that a new daemon re-attaches to the
// same replica and routes to it again.
func TestAppsOutliveTheDaemon(t *testing.T) {
	d1 := daemontest.Start(t, daemontest.Options{KeepInstances: true})
	st := deploy(t, d1, daemontest.App{Project: "keep"})
	rep := st.Services[0].Replicas[0]
	pid := get(t, "http://"+rep.Address+"/pid", "")
	d1.Stop()

	if got := get(t, "http://"+rep.Address+"/pid", ""); got != pid {
		t.Fatalf("after the daemon stopped the replica answers pid %s, want %s (it was restarted)", got, pid)
	}

	d2 := daemontest.Start(t, daemontest.Options{DataDir: d1.DataDir})
	// The re-attached replica counts as ready once its health check passes
	// again under the new daemon.
	var st2 wire.InstanceStatus
	for range 200 {
		var err error
		if st2, err = d2.Client.Status(context.Background(), "keep-dev"); err != nil {
			t.Fatal(err)
		}
		if st2.Services[0].Ready == 1 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st2.State != wire.InstanceRunning || st2.Services[0].Ready != 1 || st2.Services[0].Replicas[0].Replica != rep.Replica {
		t.Fatalf("after restart: %+v; want keep-dev running on replica %s", st2, rep.Replica)
	}
	info, err := d2.Client.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := get(t, "http://"+info.HTTPAddr+"/pid", "keep.dev.localhost"); got != pid {
		t.Errorf("through the new daemon's proxy: pid %s, want %s", got, pid)
	}
}

func TestLogsFollow(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	st := deploy(t, d, daemontest.App{Project: "follow"})
	addr := st.Services[0].Replicas[0].Address
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rc, err := d.Client.Logs(ctx, "follow-dev", client.LogsOptions{Service: "web", Follow: true, Tail: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	get(t, "http://"+addr+"/log?msg=followed-line-42", "")
	sc := bufio.NewScanner(rc)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "followed-line-42") {
			cancel()
			return
		}
	}
	t.Fatalf("the follow ended without the logged line: %v", sc.Err())
}
