package daemon_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/daemon"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
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
	req, _ := http.NewRequest(http.MethodGet, "http://quai/api/v1/instances", nil)
	req.Header.Set("Origin", "http://localhost:3000")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("request with Origin: status %d, want 403", resp.StatusCode)
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
