package daemon_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/alert"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/wire"
)

// TestCrashReachesWebhook kills a replica's process with SIGKILL on the
// process runtime and waits for the signed webhook that says so.
func TestCrashReachesWebhook(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	ctx := context.Background()
	type delivery struct {
		header http.Header
		body   []byte
		at     time.Time
	}
	got := make(chan delivery, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header.Clone(), b, time.Now()}
	}))
	defer recv.Close()
	const secret = "webhook-secret"
	created, err := d.Client.AddAlertChannel(ctx, wire.ChannelRequest{Name: "ops", URL: recv.URL + "/hook/token-abc", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	if created.Secret != "" || strings.Contains(created.Channel.URL, "token-abc") {
		t.Errorf("created %+v: a given secret is not echoed and the URL is masked", created)
	}
	if _, err := d.Client.TestAlertChannel(ctx, "ops"); err != nil {
		t.Fatal(err)
	}
	if test := <-got; test.header.Get(alert.HeaderEvent) != "test" {
		t.Errorf("test notification headers %v", test.header)
	}
	st := deploy(t, d, daemontest.App{})
	addr := st.Services[0].Replicas[0].Address
	replica := st.Services[0].Replicas[0].Replica
	resp, err := http.Get("http://" + addr + "/pid")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	pid, err := strconv.Atoi(strings.SplitN(strings.TrimSpace(string(b)), "-", 2)[0])
	if err != nil {
		t.Fatalf("pid %q: %v", b, err)
	}
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var dl delivery
	select {
	case dl = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook within 30s of the crash")
	}
	ts, sig := dl.header.Get(alert.HeaderTimestamp), dl.header.Get(alert.HeaderSignature)
	if !alert.Verify([]byte(secret), ts, dl.body, sig) {
		t.Errorf("the delivery's signature %q does not verify", sig)
	}
	var note wire.AlertNotification
	if err := json.Unmarshal(dl.body, &note); err != nil {
		t.Fatal(err)
	}
	if note.Instance != st.Name || note.Status != wire.AlertFiring || len(note.Alerts) != 1 ||
		note.Alerts[0].Rule != "crash" || note.Alerts[0].Subject != replica || !strings.Contains(note.Alerts[0].Summary, "SIGKILL") {
		t.Errorf("notification %s", dl.body)
	}
	t.Logf("crash → webhook in %s:\n%s", dl.at.Sub(killed).Round(time.Millisecond), dl.body)
	list, err := d.Client.Alerts(ctx, false)
	if err != nil || len(list.Active) != 1 || list.Active[0].Notifications != 1 {
		t.Errorf("active alerts %+v, %v", list, err)
	}
	// The state file holds the channel sealed.
	state, err := os.ReadFile(filepath.Join(d.DataDir, "alerts.json"))
	if err != nil || strings.Contains(string(state), "token-abc") || strings.Contains(string(state), secret) {
		t.Errorf("alerts.json holds the channel's URL or secret in the clear (%v)", err)
	}
	chans, err := d.Client.AlertChannels(ctx)
	if err != nil || len(chans) != 1 || chans[0].LastSent.IsZero() || strings.Contains(chans[0].URL, "token-abc") {
		t.Errorf("channels %+v, %v", chans, err)
	}
}
