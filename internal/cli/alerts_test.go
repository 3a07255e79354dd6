package cli_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/cli"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/wire"
)

// TestAlertsVerbs drives the alerts verbs against a real daemon: a channel
// is added (its secret printed once, its URL masked from then on), tested
// against a real receiver, listed; a silence is set and listed; errors
// have their exit codes.
func TestAlertsVerbs(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	got := make(chan http.Header, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got <- r.Header.Clone()
	}))
	defer recv.Close()

	add := mustRun(t, d, "alerts", "channel", "add", "ops", recv.URL+"/hooks/tok3n-9f2")
	if !strings.Contains(add.stdout, "signing secret (shown once") || strings.Contains(add.stdout, "tok3n-9f2") {
		t.Errorf("add printed:\n%s", add.stdout)
	}
	if r := run(t, d, "alerts", "channel", "add", "ops", recv.URL); r.code == 0 {
		t.Error("a second channel named ops was accepted")
	}
	if r := run(t, d, "alerts", "channel", "add", "bad", "gopher://x"); r.code != cli.ExitUsage && r.code != cli.ExitFailed {
		t.Errorf("a bad URL exited %d", r.code)
	}
	mustRun(t, d, "alerts", "test", "ops")
	if h := <-got; h.Get("X-Quai-Event") != "test" || h.Get("X-Quai-Signature") == "" {
		t.Errorf("test delivery headers %v", h)
	}
	var chans []wire.AlertChannel
	if err := json.Unmarshal([]byte(mustRun(t, d, "alerts", "channel", "ls", "--json").stdout), &chans); err != nil {
		t.Fatal(err)
	}
	if len(chans) != 1 || !chans[0].Signed || chans[0].LastSent.IsZero() || strings.Contains(chans[0].URL, "tok3n") {
		t.Errorf("channels %+v", chans)
	}
	if r := run(t, d, "alerts", "test", "nope"); r.code != cli.ExitNotFound {
		t.Errorf("testing an unknown channel exited %d, want %d", r.code, cli.ExitNotFound)
	}
	mustRun(t, d, "alerts", "silence", "shop-prod", "latency", "--for", "2h", "--comment", "load test")
	if r := run(t, d, "alerts", "silence", "shop-prod"); r.code != cli.ExitUsage {
		t.Errorf("a silence without --for exited %d", r.code)
	}
	var list wire.AlertList
	if err := json.Unmarshal([]byte(mustRun(t, d, "alerts", "--json").stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Active) != 0 || len(list.Silences) != 1 || list.Silences[0].Rule != "latency" {
		t.Errorf("alerts %+v", list)
	}
	if out := mustRun(t, d, "alerts", "--history").stdout; !strings.Contains(out, "no active alerts") || !strings.Contains(out, "load test") {
		t.Errorf("quai alerts --history:\n%s", out)
	}
	mustRun(t, d, "alerts", "channel", "rm", "ops")
	if r := run(t, d, "alerts", "channel", "rm", "ops"); r.code != cli.ExitNotFound {
		t.Errorf("removing a removed channel exited %d", r.code)
	}
}
