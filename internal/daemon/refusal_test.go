package daemon_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// load reads an app project and packs its model for the wire.
func load(t *testing.T, app daemontest.App) wire.ModelPayload {
	t.Helper()
	m, err := stack.Load(context.Background(), stack.Options{Dir: daemontest.AppProject(t, app), Env: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := wire.NewModelPayload(m, m.Resolved)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUpRefusesAPlanThatChanged: the user saw and confirmed a plan, then
// the instance changed before the up reached the daemon. The daemon plans
// again, finds another plan and refuses with plan_changed before doing
// anything; the plan it now shows is accepted.
func TestUpRefusesAPlanThatChanged(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	ctx := context.Background()
	v1 := load(t, daemontest.App{Project: "fp"})
	seen, err := d.Client.Plan(ctx, v1, "")
	if err != nil {
		t.Fatal(err)
	}
	// Meanwhile somebody else installs it.
	if _, err := d.Client.Up(ctx, v1, client.UpOptions{}, nil); err != nil {
		t.Fatal(err)
	}

	var events []wire.Event
	_, err = d.Client.Up(ctx, v1, client.UpOptions{Fingerprint: seen.Fingerprint()}, func(ev wire.Event) { events = append(events, ev) })
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusConflict || apiErr.Code != wire.CodePlanChanged ||
		!errors.Is(err, client.ErrPlanChanged) || !strings.Contains(apiErr.Hint, "run `quai up` again") {
		t.Fatalf("up with a stale plan: %v; want 409 plan_changed telling to run quai up again", err)
	}
	if len(events) != 0 {
		t.Errorf("refused up emitted %+v; want nothing", events)
	}
	rels, err := d.Client.Releases(ctx, "fp-dev")
	if err != nil || len(rels) != 1 {
		t.Fatalf("releases %+v (%v); want only the first install: the refused plan deployed nothing", rels, err)
	}

	now, err := d.Client.Plan(ctx, v1, "")
	if err != nil {
		t.Fatal(err)
	}
	if now.Fingerprint() == seen.Fingerprint() {
		t.Fatalf("the install did not change the plan:\n%s", now.Text)
	}
	if _, err := d.Client.Up(ctx, v1, client.UpOptions{Fingerprint: now.Fingerprint()}, nil); err != nil {
		t.Errorf("up with the current plan: %v", err)
	}
}

// TestRefusedRollbackIsAnAPIError: a rollback refused before it starts
// answers with its status and hint, not with a stream holding one failed
// event (which lost the did-you-mean).
func TestRefusedRollbackIsAnAPIError(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	ctx := context.Background()
	if _, err := d.Client.Up(ctx, load(t, daemontest.App{Project: "shop"}), client.UpOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		instance string
		to       int
		status   int
		code     string
		hint     string
	}{
		{"misspelt instance", "shop-dve", 0, http.StatusNotFound, wire.CodeNotFound, "did you mean shop-dev?"},
		{"no such release", "shop-dev", 99, http.StatusConflict, wire.CodeNoRelease, "`quai releases INSTANCE`"},
		{"no earlier release", "shop-dev", 0, http.StatusConflict, wire.CodeNoRelease, "`quai releases INSTANCE`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var events []wire.Event
			_, err := d.Client.Rollback(ctx, tt.instance, tt.to, func(ev wire.Event) { events = append(events, ev) })
			var apiErr *client.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != tt.status || apiErr.Code != tt.code || !strings.Contains(apiErr.Hint, tt.hint) {
				t.Fatalf("rollback %s --to %d: %v; want %d %s with hint %q", tt.instance, tt.to, err, tt.status, tt.code, tt.hint)
			}
			if len(events) != 0 {
				t.Errorf("refused rollback emitted %+v; want nothing", events)
			}
		})
	}
}
