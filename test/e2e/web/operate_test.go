package webe2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/wire"
	"github.com/quai-dev/quai/test/e2e/e2etest"
)

// siteHost is the dev instance's host on the local proxy.
const siteHost = "users-api.dev.localhost"

// TestDashboardOperations runs the example on the process runtime and, in
// a browser, as an administrator of its organization: the activity page
// shows the steps of a deploy started with the CLI while it is open; a
// backup runs from the instance's page and a restore (after its
// confirmation) brings the data back as it was; a drill runs and its
// report shows; the instance's alerts are silenced; release 1 of dev is
// promoted to qa after the plan is shown; a token is created, shown once,
// works, is revoked and stops working; a user is added and removed; the
// audit log lists what was done. Another organization's administrator
// following the activity sees nothing of it. A member and a reader see no audit link
// and the audit page by URL is refused by the API.
func TestDashboardOperations(t *testing.T) {
	exe := need(t)
	dir := e2etest.Project(t, map[string]string{"envs/qa.yaml": e2etest.PlainRoutes})
	e2etest.SetVersion(t, dir, "1")
	d := daemontest.Start(t, daemontest.Options{DataDir: e2etest.DataDir(t), HealthTimeout: 2 * time.Minute, DrainTimeout: 2 * time.Second})
	e2etest.MustQuai(t, d.Socket, "up", dir, "--env", "dev", "-y")
	st, err := d.Client.Status(t.Context(), instance)
	if err != nil {
		t.Fatal(err)
	}
	org := st.Identity.Org
	e2etest.MustQuai(t, d.Socket, "org", "add", "globex")
	for _, u := range []struct{ name, role, in string }{{"ada", "admin", org}, {"mia", "member", org}, {"rex", "reader", org}, {"otto", "admin", "globex"}} {
		if out, code := e2etest.QuaiIn(t, d.Socket, password+"\n", "user", "add", u.name, "--role", u.role, "--in", u.in); code != 0 {
			t.Fatalf("quai user add %s: exit %d\n%s", u.name, code, out)
		}
	}
	srv := httptest.NewServer(d.WebHandler())
	t.Cleanup(srv.Close)
	tab := browser(t, exe)
	shots := os.Getenv("QUAI_SCREENSHOTS")
	ctx := tab()
	login(t, ctx, srv.URL, "ada")

	// The activity page follows a deploy the CLI starts; another
	// organization's administrator, following too, sees none of it.
	other := tab()
	login(t, other, srv.URL, "otto")
	for _, c := range []context.Context{ctx, other} {
		do(t, c, "open the activity page",
			chromedp.Navigate(srv.URL+"/ui/activity"),
			chromedp.WaitVisible(chromedp.CSS(`#activity-status[data-open="true"]`)),
		)
	}
	e2etest.SetVersion(t, dir, "2")
	type result struct {
		out  string
		code int
	}
	upDone := make(chan result, 1)
	go func() {
		out, code := e2etest.Quai(t, d.Socket, "up", dir, "--env", "dev", "-y")
		upDone <- result{out, code}
	}()
	group := `section.op-group[data-instance="` + instance + `"]`
	do(t, ctx, "the CLI's deploy streams into the activity page",
		chromedp.WaitVisible(chromedp.CSS(group+" li.ev-step")),
		chromedp.WaitVisible(chromedp.CSS(group+`[data-done="done"]`)),
	)
	if up := <-upDone; up.code != 0 {
		t.Fatalf("quai up (version 2): exit %d\n%s", up.code, up.out)
	}
	if steps := text(t, ctx, group); !strings.Contains(steps, "done: release 2") || !strings.Contains(steps, "api") {
		t.Errorf("the activity page's deploy:\n%s", steps)
	}
	if n := get(t, other, "another org's feed", chromedp.Evaluate[int](`document.querySelectorAll("section.op-group").length`)); n != 0 {
		t.Errorf("another organization's administrator sees %d operations: %s", n, text(t, other, "#activity"))
	}
	screenshots(t, ctx, shots, "activity")

	// Back up now, change the data, restore after the confirmation.
	site := e2etest.NewSite(d.ProxyHTTPAddr(), siteHost)
	site.CreateUser(t, "alice")
	do(t, ctx, "back up now",
		chromedp.Navigate(srv.URL+"/ui/i/"+instance+"#backups"),
		chromedp.Click(chromedp.CSS("#backup-now")),
		chromedp.WaitVisible(chromedp.CSS(`#op-status[data-done="true"]`)),
	)
	if s := text(t, ctx, "#op-status"); !strings.HasPrefix(s, "done") {
		t.Fatalf("backup from the dashboard: %s\n%s", s, text(t, ctx, "#op-events"))
	}
	l, err := d.Client.Backups(t.Context(), instance)
	if err != nil {
		t.Fatal(err)
	}
	var snap string
	for _, r := range l.Runs {
		if r.Status == wire.BackupDone && r.Trigger == wire.TriggerManual && r.Service == "db" {
			snap = r.Snapshot
			break
		}
	}
	if snap == "" {
		t.Fatalf("no manual backup of db after the dashboard's: %+v", l.Runs)
	}
	site.CreateUser(t, "bob")
	do(t, ctx, "ask to restore: the confirmation names the snapshot",
		chromedp.Click(chromedp.CSS("#back-to-instance")),
		chromedp.WaitVisible(chromedp.CSS(`a[href$="restore?snapshot=`+snap+`"]`)),
	)
	screenshotAt(t, ctx, shots, "backups", "#backups")
	do(t, ctx, "open the confirmation",
		chromedp.Click(chromedp.CSS(`a[href$="restore?snapshot=`+snap+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("#confirm-restore")),
	)
	if c := text(t, ctx, "main"); !strings.Contains(c, snap) || !strings.Contains(c, "db") {
		t.Errorf("the restore's confirmation does not name db and %s:\n%s", snap, c)
	}
	do(t, ctx, "restore",
		chromedp.Click(chromedp.CSS("#confirm-restore")),
		chromedp.WaitVisible(chromedp.CSS(`#op-status[data-done="true"]`)),
	)
	if s := text(t, ctx, "#op-status"); !strings.HasPrefix(s, "done") {
		t.Fatalf("restore from the dashboard: %s\n%s", s, text(t, ctx, "#op-events"))
	}
	var users []string
	for _, u := range site.Users(t) {
		users = append(users, u.Name)
	}
	if !slices.Equal(users, []string{"alice"}) {
		t.Errorf("users after the dashboard's restore: %v, want alice only", users)
	}

	// A drill, and its report on the page.
	do(t, ctx, "run a drill",
		chromedp.Click(chromedp.CSS("#back-to-instance")),
		chromedp.Click(chromedp.CSS("#drill-now")),
		chromedp.WaitVisible(chromedp.CSS(`#op-status[data-done="true"]`)),
		chromedp.Click(chromedp.CSS("#back-to-instance")),
		chromedp.WaitReady(chromedp.CSS("details.drill summary")),
	)
	if dr := text(t, ctx, "details.drill summary"); !strings.HasPrefix(dr, "passed") && !strings.HasPrefix(dr, "done") && !strings.HasPrefix(dr, "ok") {
		t.Errorf("the drill's result on the page: %q", dr)
	}

	// Silence the instance's alerts.
	do(t, ctx, "silence",
		chromedp.SetValue(chromedp.CSS("#silence-for"), "4h"),
		chromedp.Click(chromedp.CSS("#silence-instance")),
		chromedp.WaitReady(chromedp.CSS("#alerts p.silence")),
	)
	al, err := d.Client.Alerts(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	silenced := false
	for _, s := range al.Silences {
		if s.Instance == instance && s.Rule == "" && time.Until(s.Until) > 3*time.Hour && strings.Contains(s.Comment, "ada") {
			silenced = true
		}
	}
	if !silenced {
		t.Errorf("no 4h silence of %s by ada after the dashboard's: %+v", instance, al.Silences)
	}

	// Promote dev's release 1 (version 1) to qa (installed at version 2):
	// the plan first. (The API authorizes a promotion by its target's
	// name, so the target is installed: `quai promote` to a new instance
	// is the host administrator's.)
	e2etest.MustQuai(t, d.Socket, "up", dir, "--env", "qa", "-y")
	do(t, ctx, "reload the instance page", chromedp.Navigate(srv.URL+"/ui/i/"+instance), chromedp.WaitVisible(chromedp.CSS("#promote-to")))
	do(t, ctx, "ask to promote release 1 to qa",
		chromedp.SetValue(chromedp.CSS("#promote-release"), "1"),
		chromedp.SendKeys(chromedp.CSS("#promote-to"), "qa"),
		chromedp.Click(chromedp.CSS("#promote")),
		chromedp.WaitVisible(chromedp.CSS("#confirm-promote")),
	)
	if plan := text(t, ctx, "#promote-plan"); !strings.Contains(plan, "users-api-qa") || !strings.Contains(plan, "api") {
		t.Errorf("the promotion's plan:\n%s", plan)
	}
	screenshots(t, ctx, shots, "promote")
	do(t, ctx, "promote",
		chromedp.Click(chromedp.CSS("#confirm-promote")),
		chromedp.WaitVisible(chromedp.CSS(`#op-status[data-done="true"]`)),
	)
	if s := text(t, ctx, "#op-status"); !strings.HasPrefix(s, "done") {
		t.Fatalf("promotion from the dashboard: %s\n%s", s, text(t, ctx, "#op-events"))
	}
	qa, err := d.Client.Status(t.Context(), "users-api-qa")
	if err != nil {
		t.Fatal(err)
	}
	rels, err := d.Client.Releases(t.Context(), "users-api-qa")
	if err != nil {
		t.Fatal(err)
	}
	var causes []string
	for _, r := range rels {
		if r.Number == qa.Release {
			causes = append(causes, r.Cause)
		}
	}
	if len(causes) != 1 || causes[0] != "promoted from "+instance+" release 1" {
		t.Errorf("qa's active release %d has cause %q, want promoted from %s release 1", qa.Release, causes, instance)
	}

	// A token: created, shown once, works, revoked, refused.
	do(t, ctx, "create a token",
		chromedp.Navigate(srv.URL+"/ui/users"),
		chromedp.SendKeys(chromedp.CSS("#t-name"), "ci-bot"),
		chromedp.Click(chromedp.CSS("#create-token-submit")),
		chromedp.WaitVisible(chromedp.CSS("#new-token")),
	)
	secret := get(t, ctx, "the new token", chromedp.Value(chromedp.CSS("#new-token")))
	if !strings.HasPrefix(secret, "quai_") {
		t.Fatalf("the page shows token %q", secret)
	}
	screenshots(t, ctx, shots, "users")
	do(t, ctx, "open the users page again", chromedp.Navigate(srv.URL+"/ui/users"), chromedp.WaitVisible(chromedp.CSS(`tr[data-name="ci-bot"]`)))
	if page := get(t, ctx, "page", chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(page, secret) || strings.Contains(page, `id="new-token"`) {
		t.Error("the token's secret shows again on the users page")
	}
	tokenTab := tab()
	loginWithToken(t, tokenTab, srv.URL, secret)
	if _, err := client.NewInProcess(d.RemoteHandler(), secret).Instances(t.Context()); err != nil {
		t.Errorf("the dashboard's new token: %v", err)
	}
	do(t, ctx, "revoke the token",
		chromedp.Click(chromedp.CSS(`tr[data-name="ci-bot"] button`)),
		chromedp.WaitNotPresent(chromedp.CSS(`tr[data-name="ci-bot"]`)),
	)
	if _, err := client.NewInProcess(d.RemoteHandler(), secret).Instances(t.Context()); err == nil {
		t.Error("the revoked token still works")
	}
	do(t, tokenTab, "the revoked token's session ends", chromedp.Navigate(srv.URL+"/ui/"), chromedp.WaitVisible(chromedp.CSS("h1")))
	if h1 := text(t, tokenTab, "h1"); !strings.Contains(h1, "401") && h1 != "Log in to quai" {
		t.Errorf("a session of the revoked token: %q", h1)
	}

	// A user added and removed.
	do(t, ctx, "add a user",
		chromedp.SendKeys(chromedp.CSS("#u-name"), "nia"),
		chromedp.SendKeys(chromedp.CSS("#u-password"), password),
		chromedp.SetValue(chromedp.CSS("#u-role"), "reader"),
		chromedp.SendKeys(chromedp.CSS("#u-path"), org),
		chromedp.Click(chromedp.CSS("#add-user-submit")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-user="nia"]`)),
	)
	if g := text(t, ctx, `tr[data-user="nia"]`); !strings.Contains(g, "reader "+org) {
		t.Errorf("the new user's row: %q", g)
	}
	do(t, ctx, "remove the user",
		chromedp.Click(chromedp.CSS("#remove-nia")),
		chromedp.WaitNotPresent(chromedp.CSS(`tr[data-user="nia"]`)),
	)

	// The audit log lists what the administrator did here.
	do(t, ctx, "open the audit log",
		chromedp.Click(chromedp.CSS("#nav-audit")),
		chromedp.WaitVisible(chromedp.CSS("#audit")),
	)
	audit := text(t, ctx, "#audit")
	// (Tokens are a user's, not an organization's: their entries are in
	// the host administrator's log.)
	for _, a := range []string{"backup", "restore", "drill", "promote", "silence", "users"} {
		if n := get(t, ctx, "audit rows", chromedp.Evaluate[int](`document.querySelectorAll('#audit tr[data-action="`+a+`"]').length`)); n == 0 {
			t.Errorf("the audit page has no %s entry:\n%.3000s", a, audit)
		}
	}
	screenshots(t, ctx, shots, "audit")

	// A member and a reader: no audit link, the page refused by the API.
	for _, u := range []string{"mia", "rex"} {
		c := tab()
		login(t, c, srv.URL, u)
		if n := get(t, c, "audit link", chromedp.Evaluate[int](`document.querySelectorAll("#nav-audit, #nav-users").length`)); n != 0 {
			t.Errorf("%s sees the audit and users links", u)
		}
		do(t, c, u+" opens the audit page by URL", chromedp.Navigate(srv.URL+"/ui/audit"), chromedp.WaitVisible(chromedp.CSS("h1")))
		if n := get(t, c, "audit table", chromedp.Evaluate[int](`document.querySelectorAll("#audit").length`)); n != 0 {
			t.Errorf("%s sees the audit log", u)
		}
		if code := statusOf(t, srv.URL+"/ui/audit", u); code != http.StatusForbidden {
			t.Errorf("GET /ui/audit as %s: %d, want 403", u, code)
		}
	}
}
