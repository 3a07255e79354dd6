package dockere2e

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/runtime/docker/dockertest"
	"github.com/quai-dev/quai/test/e2e/e2etest"
)

const (
	syncthingImageName = "syncthing/syncthing:1.27.12"
	stHost             = "sync.acme.localhost"
	stInstance         = "acme/syncthing-prod"
	stNote             = "/var/syncthing/Sync/note.txt"
)

// syncthingImage builds the Syncthing entry's image from Debian's syncthing
// package (1.19) and tags it with the entry's name for the test. Its
// entrypoint (testdata/syncthing-entry) does what the official image's
// does and serves the health endpoint 1.19 lacks; curl and grep are there
// for the entry's Docker healthcheck, cat and rm for the test's exec.
func syncthingImage(t *testing.T, cli *client.Client) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "syncthing-entry")
	dockertest.GoBuildStatic(t, ".", "./testdata/syncthing-entry", bin)
	entry, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	ref := dockertest.HostImage(t, cli, dockertest.HostImageSpec{
		Name:     "catalog-syncthing",
		Programs: []string{"/usr/bin/syncthing", "/usr/bin/curl", "/usr/bin/grep", "/usr/bin/cat", "/usr/bin/rm"},
		Files:    map[string][]byte{"/bin/entrypoint": entry},
		Dirs:     []string{"/var/syncthing"},
		Changes: []string{"ENV PATH=/usr/bin:/bin", "ENV HOME=/var/syncthing", "ENV PUID=1000", "ENV PGID=1000",
			"ENV STGUIADDRESS=0.0.0.0:8384", `ENTRYPOINT ["/bin/entrypoint"]`, "EXPOSE 8384 22000/tcp 22000/udp"},
	})
	tagForTest(t, cli, map[string]string{ref: syncthingImageName})
}

// freePort is a TCP port nothing listens on now, for the sync protocol.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// deviceID is the Syncthing device ID the GUI names in every answer,
// through quai's proxy: it is derived from the device's key in the
// configuration volume.
func deviceID(t *testing.T, d *daemontest.Daemon) string {
	t.Helper()
	code, h, body, err := proxyRequest(d, stHost, http.MethodGet, "/", nil)
	if err != nil || code != http.StatusOK || !strings.Contains(body, "Syncthing") {
		t.Fatalf("Syncthing's GUI through the proxy: %d, %v\n%.1000s", code, err, body)
	}
	id := h.Get("X-Syncthing-Id")
	if id == "" {
		t.Fatalf("Syncthing's GUI names no device (X-Syncthing-Id): %v", h)
	}
	return id
}

// stHealthy waits until Syncthing's health endpoint answers OK through
// quai's proxy.
func stHealthy(t *testing.T, d *daemontest.Daemon, when string) {
	t.Helper()
	var code int
	var body string
	var err error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if code, _, body, err = proxyRequest(d, stHost, http.MethodGet, "/rest/noauth/health", nil); err == nil && code == http.StatusOK {
			break
		}
	}
	if code != http.StatusOK || !strings.Contains(body, `"OK"`) {
		t.Fatalf("%s: /rest/noauth/health through the proxy: %d, %v\n%.1000s", when, code, err, body)
	}
}

// note reads the file the test keeps in Syncthing's default folder.
func note(t *testing.T, d *daemontest.Daemon) string {
	t.Helper()
	out, code := e2etest.Quai(t, d.Socket, "exec", stInstance, "syncthing", "--", "cat", stNote)
	if code != 0 {
		return "(unreadable: " + strings.TrimSpace(out) + ")"
	}
	return strings.TrimSpace(out)
}

// TestCatalogSyncthingOnDocker installs the catalog's Syncthing entry on a
// real Docker Engine with `quai catalog install`, answers its health
// endpoint and GUI through quai's proxy, writes a file into its default
// folder, backs up its volume (configuration, keys and folders), changes
// the file and deletes the device's keys, restores, and finds the file and
// the same device identity again; then updates it with a changed setting
// (the sync port), an ordinary up with a plan that stops the old replica
// first (Syncthing locks its database).
func TestCatalogSyncthingOnDocker(t *testing.T) {
	cli, host := engine(t)
	syncthingImage(t, cli)
	d := daemontest.Start(t, daemontest.Options{DockerHost: host, HealthTimeout: 3 * time.Minute, DrainTimeout: 5 * time.Second})
	dir := filepath.Join(t.TempDir(), "syncthing-acme-prod")
	port := freePort(t)

	start := time.Now()
	out := e2etest.MustQuai(t, d.Socket, "--data-dir", d.DataDir, "catalog", "install", "syncthing", "--org", "acme", "--env", "prod",
		"--host", stHost, "--dir", dir, "--runtime", "docker", "--set", "SYNC_PORT="+strconv.Itoa(port), "-y")
	t.Logf("quai catalog install:\n%s", out)
	for _, want := range []string{"wrote " + dir, "syncthing", stHost} {
		if !strings.Contains(out, want) {
			t.Errorf("catalog install output lacks %q", want)
		}
	}
	stHealthy(t, d, "after the install")
	t.Logf("FIGURE catalog install syncthing → health endpoint answering through the proxy: %s", time.Since(start).Round(time.Millisecond))
	id := deviceID(t, d)

	// Data in the default folder, as a device syncing it would leave.
	e2etest.MustQuai(t, d.Socket, "exec", stInstance, "syncthing", "--", "sh", "-c", "printf 'synced before the backup\\n' > "+stNote)
	if got := note(t, d); got != "synced before the backup" {
		t.Fatalf("note after writing it: %q", got)
	}
	out = e2etest.MustQuai(t, d.Socket, "backup", stInstance)
	t.Logf("quai backup:\n%s", out)
	snap := manualBackup(t, d.Socket, stInstance, "syncthing")
	if snap.Kind != "volume" || snap.Bytes == 0 {
		t.Fatalf("syncthing backup: %+v", snap)
	}

	// Lose the data: the file changed, the device's keys gone.
	e2etest.MustQuai(t, d.Socket, "exec", stInstance, "syncthing", "--", "sh", "-c",
		"printf 'changed after the backup\\n' > "+stNote+" && rm /var/syncthing/config/key.pem /var/syncthing/config/cert.pem")
	if got := note(t, d); got != "changed after the backup" {
		t.Fatalf("note after changing it: %q", got)
	}
	out = e2etest.MustQuai(t, d.Socket, "restore", stInstance, "--snapshot", snap.Snapshot, "-y")
	t.Logf("quai restore:\n%s", out)
	stHealthy(t, d, "after the restore")
	if got := note(t, d); got != "synced before the backup" {
		t.Errorf("note after the restore: %q, want the backed-up text", got)
	}
	// Syncthing restarted on the restored volume: without its keys it
	// would have made a new device.
	if got := deviceID(t, d); got != id {
		t.Errorf("device after the restore: %s, want %s (the backed-up keys)", got, id)
	}

	// An update: a changed setting is an ordinary up with a plan; the old
	// replica stops before the new one starts.
	port2 := freePort(t)
	out = e2etest.MustQuai(t, d.Socket, "--data-dir", d.DataDir, "catalog", "install", "syncthing", "--org", "acme", "--env", "prod",
		"--dir", dir, "--set", "SYNC_PORT="+strconv.Itoa(port2), "-y")
	t.Logf("quai catalog install --set SYNC_PORT=%d:\n%s", port2, out)
	for _, want := range []string{"updated " + dir, "replace", "stop-first"} {
		if !strings.Contains(out, want) {
			t.Errorf("settings update output lacks %q", want)
		}
	}
	stHealthy(t, d, "after the update")
	if got := deviceID(t, d); got != id {
		t.Errorf("device after the update: %s, want %s", got, id)
	}
	if got := note(t, d); got != "synced before the backup" {
		t.Errorf("note after the update: %q", got)
	}
}
