// Package webe2e tests the dashboard end to end in headless Chromium
// (Debian's chromium, driven with chromedp): a real daemon on the process
// runtime running the users-api example, the dashboard over its API, a
// real browser. Without Chromium or PostgreSQL the tests skip, except in
// CI (CI=true), where they fail.
package webe2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/quai-dev/quai/internal/daemon"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/wire"
	"github.com/quai-dev/quai/test/e2e/e2etest"
)

func TestMain(m *testing.M) { daemontest.Main(m) }

const (
	instance = "users-api-dev"
	pgBin    = "/usr/lib/postgresql/15/bin"
)

// need skips (fails in CI) without what the test runs.
func need(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a browser and the example with PostgreSQL")
	}
	skip := func(msg string) {
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := os.Stat(filepath.Join(pgBin, "postgres")); err != nil {
		skip("no PostgreSQL server (run scripts/deps.sh as root): " + err.Error())
	}
	return needChromium(t)
}

// browser starts a headless Chromium; each call to tab opens a new
// incognito-like context (its own cookies).
func browser(t *testing.T, exe string) func() context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless,
		chromedp.Flag("disable-gpu", true), chromedp.WindowSize(1280, 800))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return func() context.Context {
		ctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		// The tab lives as long as the context of its first run: open it
		// here, then steps run with timeouts of their own.
		if err := chromedp.Do(ctx); err != nil {
			t.Fatalf("open a tab: %v", err)
		}
		watchErrors(t, ctx)
		return ctx
	}
}

// watchErrors fails the test for every script error and Content-Security-
// Policy violation the tab reports: the dashboard's pages run with a
// strict policy, and anything it refuses is a bug.
func watchErrors(t *testing.T, ctx context.Context) {
	t.Helper()
	var mu sync.Mutex
	var errs []string
	err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *cdplog.EventEntryAdded:
			if e := ev.Entry; e != nil && e.Level == cdplog.EntryLevelError && (e.Source == cdplog.EntrySourceSecurity || e.Source == cdplog.EntrySourceJavascript) {
				msg = string(e.Source) + ": " + e.Text + " " + e.URL
			}
		case *cdpruntime.EventExceptionThrown:
			if d := ev.ExceptionDetails; d != nil {
				msg = "exception: " + d.Text
				if d.Exception != nil {
					msg += " " + d.Exception.Description
				}
			}
		}
		if msg != "" {
			mu.Lock()
			errs = append(errs, msg)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range errs {
			t.Errorf("the browser reported %s", e)
		}
	})
}

// do runs steps in the tab, failing the test with where the page is.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		loc, _ := chromedp.Run(dctx, chromedp.Location())
		body, _ := chromedp.Run(dctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%s: %v\nat %s:\n%.2000s", what, err, loc, body)
	}
}

// get runs one action that returns a value.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return strings.TrimSpace(get(t, ctx, "text of "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// media emulates prefers-color-scheme (empty: the system's).
func media(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		p := emulation.SetEmulatedMediaParams{}
		if scheme != "" {
			p.Features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
		}
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, p)
		return err
	})
}

// password is the test users' password.
const password = "correct-horse-battery"

func login(t *testing.T, ctx context.Context, base, user string) {
	t.Helper()
	do(t, ctx, "log in as "+user,
		chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS("#login-password")),
		chromedp.SendKeys(chromedp.CSS("#user"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#instances")),
	)
}

func loginWithToken(t *testing.T, ctx context.Context, base, token string) {
	t.Helper()
	do(t, ctx, "log in with a token",
		chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS("#login-password")),
		chromedp.Click(chromedp.CSS("details summary")),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#token-submit")),
		chromedp.WaitVisible(chromedp.CSS("#instances")),
	)
}

// TestDashboard deploys the example twice (two releases) and, in a
// browser, with the daemon's own users, passwords and roles: a member
// logs in with a password, finds the instance by searching,
// opens it, sees its logs stream, rolls back (the confirmation shows what
// changes), watches the steps stream in and sees the active release
// change; a reader of the same organization sees no action button and
// the rollback it forges is refused by the API; a member of another
// organization gets 404 for the instance's page by URL and an empty list.
// With QUAI_SCREENSHOTS=DIR the main pages are captured there, light and
// dark.
func TestDashboard(t *testing.T) {
	exe := need(t)
	dir := e2etest.Project(t, nil)
	e2etest.SetVersion(t, dir, "1")
	d := daemontest.Start(t, daemontest.Options{DataDir: e2etest.DataDir(t), HealthTimeout: 2 * time.Minute, DrainTimeout: 2 * time.Second})
	e2etest.MustQuai(t, d.Socket, "up", dir, "--env", "dev", "-y")
	e2etest.SetVersion(t, dir, "2")
	e2etest.MustQuai(t, d.Socket, "up", dir, "--env", "dev", "-y")
	st, err := d.Client.Status(t.Context(), instance)
	if err != nil {
		t.Fatal(err)
	}
	// Users of the daemon's own accounts: a member and a reader of the
	// instance's organization, a member of another.
	org := st.Identity.Org
	e2etest.MustQuai(t, d.Socket, "org", "add", "globex")
	for _, u := range []struct{ name, role, in string }{
		{"mia", "member", org}, {"rex", "reader", org}, {"otto", "member", "globex"},
	} {
		if out, code := e2etest.QuaiIn(t, d.Socket, password+"\n", "user", "add", u.name, "--role", u.role, "--in", u.in); code != 0 {
			t.Fatalf("quai user add %s: exit %d\n%s", u.name, code, out)
		}
	}
	// The daemon's dashboard, over its network API handler, as the TLS
	// listener mounts it.
	srv := httptest.NewServer(d.WebHandler())
	t.Cleanup(srv.Close)
	tab := browser(t, exe)
	shots := os.Getenv("QUAI_SCREENSHOTS")

	// A member: find, open, logs, rollback.
	ctx := tab()
	login(t, ctx, srv.URL, "mia")
	row := `tr[data-instance="` + instance + `"] a`
	do(t, ctx, "search for the instance",
		chromedp.SendKeys(chromedp.CSS("#q"), "users-api"),
		chromedp.WaitVisible(chromedp.CSS(row)),
	)
	screenshots(t, ctx, shots, "instances")
	do(t, ctx, "open the instance and see its logs stream",
		chromedp.Click(chromedp.CSS(row)),
		chromedp.WaitVisible(chromedp.CSS("#active-release")),
		chromedp.WaitVisible(chromedp.CSS("#log .line")),
		chromedp.WaitVisible(chromedp.CSS("#rollback-1")),
	)
	do(t, ctx, "the graphs draw", chromedp.WaitVisible(chromedp.CSS(".charts figure")))
	if n := get(t, ctx, "graphs", chromedp.Evaluate[int](`document.querySelectorAll(".charts figure").length`)); n != 4 {
		t.Errorf("%d graphs, want 4 (requests, latency, CPU, memory): %s", n, text(t, ctx, ".charts"))
	}
	if before := text(t, ctx, "#active-release"); before != strconv.Itoa(st.Release) {
		t.Fatalf("the page shows release %q, the API %d", before, st.Release)
	}
	screenshotAt(t, ctx, shots, "logs", "#logs")
	do(t, ctx, "pause the logs", chromedp.Click(chromedp.CSS("#log-pause")))
	if status := text(t, ctx, "#log-status"); status != "paused" {
		t.Errorf("log status after pause %q, want paused", status)
	}
	screenshotAt(t, ctx, shots, "instance", "h1")
	do(t, ctx, "ask to roll back: the confirmation shows the plan",
		chromedp.Click(chromedp.CSS("#rollback-1")),
		chromedp.WaitVisible(chromedp.CSS("#confirm-rollback")),
	)
	if plan := text(t, ctx, "table.plan"); !strings.Contains(plan, "api") || !strings.Contains(plan, "replaced") {
		t.Errorf("the rollback's plan does not say the api is replaced:\n%s", plan)
	}
	screenshots(t, ctx, shots, "rollback")
	do(t, ctx, "roll back and watch the steps",
		chromedp.Click(chromedp.CSS("#confirm-rollback")),
		chromedp.WaitVisible(chromedp.CSS("#op-events li.ev-step")),
		chromedp.WaitVisible(chromedp.CSS(`#op-status[data-done="true"]`)),
	)
	if opStatus := text(t, ctx, "#op-status"); !strings.HasPrefix(opStatus, "done") {
		t.Fatalf("rollback: %s\n%s", opStatus, text(t, ctx, "#op-events"))
	}
	screenshots(t, ctx, shots, "operation")
	after, err := d.Client.Status(t.Context(), instance)
	if err != nil {
		t.Fatal(err)
	}
	if after.Release == st.Release {
		t.Fatalf("the rollback left release %d active", after.Release)
	}
	do(t, ctx, "see the release change",
		chromedp.Click(chromedp.CSS("#back-to-instance")),
		chromedp.WaitVisible(chromedp.CSS("#active-release")),
	)
	if shown := text(t, ctx, "#active-release"); shown != strconv.Itoa(after.Release) {
		t.Errorf("after the rollback the page shows release %s, the API %d", shown, after.Release)
	}

	// Five more tabs follow the logs: the daemon's memory (it runs in this
	// test's process, with the dashboard and the test's own) is printed.
	runtime.GC()
	before := vmRSS(t)
	for range 5 {
		c := tab()
		login(t, c, srv.URL, "mia")
		do(t, c, "a tab follows the logs", chromedp.Navigate(srv.URL+"/ui/i/"+instance+"#logs"), chromedp.WaitVisible(chromedp.CSS("#log .line")))
	}
	time.Sleep(3 * time.Second)
	runtime.GC()
	t.Logf("RSS of the test process (daemon, dashboard, harness): %d MiB with one tab, %d MiB with 6 tabs streaming logs", before>>20, vmRSS(t)>>20)

	// A reader: no buttons, and a forged rollback is refused by the API.
	ctx = tab()
	login(t, ctx, srv.URL, "rex")
	do(t, ctx, "the reader opens the instance",
		chromedp.Navigate(srv.URL+"/ui/i/"+instance),
		chromedp.WaitVisible(chromedp.CSS("#active-release")),
	)
	buttons := get(t, ctx, "count the buttons", chromedp.Evaluate[int](`document.querySelectorAll("[id^=rollback-], #backup-now, form[action$=silence]").length`))
	if buttons != 0 {
		t.Errorf("the reader sees %d action buttons", buttons)
	}
	do(t, ctx, "the reader forges a rollback",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[any](`fetch("/ui/i/`+instance+`/rollback", {method: "POST", body: new URLSearchParams({to: "1"})}).then(r => { location.href = r.url; })`)(ctx, tg)
			return err
		}),
		chromedp.WaitVisible(chromedp.CSS(`#op-status[data-done="true"]`)),
	)
	if forged := text(t, ctx, "#op-status"); !strings.Contains(forged, "may not") {
		t.Errorf("the reader's forged rollback: %q, want refused by the API", forged)
	}
	if now, err := d.Client.Status(t.Context(), instance); err != nil || now.Release != after.Release {
		t.Errorf("after the reader's forged rollback: release %d (%v), want %d", now.Release, err, after.Release)
	}

	// A member of another organization: not found by URL, not listed.
	ctx = tab()
	login(t, ctx, srv.URL, "otto")
	if count := text(t, ctx, "p.count"); !strings.HasPrefix(count, "0 of 0") {
		t.Errorf("another org's member lists %q", count)
	}
	do(t, ctx, "another org's member opens the instance by URL",
		chromedp.Navigate(srv.URL+"/ui/i/"+instance),
		chromedp.WaitVisible(chromedp.CSS("h1")),
	)
	if h1 := text(t, ctx, "h1"); h1 != "Not found" {
		t.Errorf("another org's member opened the instance's page: %q", h1)
	}
	if code := statusOf(t, srv.URL+"/ui/i/"+instance, "otto"); code != http.StatusNotFound {
		t.Errorf("GET /ui/i/%s as another org's member: %d, want 404", instance, code)
	}
	if shots != "" {
		ctx = tab()
		do(t, ctx, "login page", chromedp.Navigate(srv.URL+"/ui/login"), chromedp.WaitVisible(chromedp.CSS("#login-password")))
		screenshots(t, ctx, shots, "login")
	}
}

// evaluate runs a script in the page for its effect.
func evaluate(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](js)(ctx, tg)
		return err
	})
}

// vmRSS is this process's resident memory, in bytes.
func vmRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc: ", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// statusOf logs in as user over plain HTTP and returns GET url's status.
func statusOf(t *testing.T, u, user string) int {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar}
	base := u[:strings.Index(u, "/ui/")]
	resp, err := c.PostForm(base+"/ui/login", map[string][]string{"user": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	resp, err = c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// screenshotAt scrolls the element sel to the top of the window, then
// takes the screenshots.
func screenshotAt(t *testing.T, ctx context.Context, dir, name, sel string) {
	t.Helper()
	if dir == "" {
		return
	}
	do(t, ctx, "scroll to "+sel, evaluate(`document.querySelector(`+strconv.Quote(sel)+`).scrollIntoView(); 0`))
	screenshots(t, ctx, dir, name)
}

// screenshots captures the window (1280×800), light and dark, into dir as
// NAME-light.png and NAME-dark.png (and a phone-width one of the instances
// pages).
func screenshots(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(file string, png []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), png, 0o644); err != nil { //nolint:gosec // screenshots for the note
			t.Fatal(err)
		}
	}
	for _, scheme := range []string{"light", "dark"} {
		do(t, ctx, "colour scheme "+scheme, media(scheme), chromedp.Sleep(300*time.Millisecond))
		write(fmt.Sprintf("%s-%s.png", name, scheme), get(t, ctx, "screenshot "+name, chromedp.CaptureScreenshot()))
	}
	if name == "instances" || name == "instance" {
		do(t, ctx, "phone width", media("light"),
			chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
			chromedp.Sleep(300*time.Millisecond))
		write(name+"-phone.png", get(t, ctx, "phone screenshot "+name, chromedp.CaptureScreenshot()))
		do(t, ctx, "desktop width", chromedp.EmulateViewport(1280, 800))
	}
	do(t, ctx, "reset the colour scheme", media(""))
}

// TestDashboardLink: `quai dashboard` prints a link to the daemon's
// loopback listener that opens a session as the host's administrator
// once; the listener serves the pages with their security headers.
func TestDashboardLink(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{Dashboard: daemon.DashboardConfig{Addr: "127.0.0.1:0"}})
	out := e2etest.MustQuai(t, d.Socket, "dashboard", "--json")
	var link wire.DashboardLink
	if err := json.Unmarshal([]byte(out), &link); err != nil {
		t.Fatalf("quai dashboard --json: %v\n%s", err, out)
	}
	if !strings.HasPrefix(link.URL, "http://"+d.DashboardAddr()+"/ui/login/link?code=") {
		t.Fatalf("link %q is not to the loopback listener %s", link.URL, d.DashboardAddr())
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar}
	resp, err := c.Get(link.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "0 of 0 instances") {
		t.Fatalf("following the link: %d at %s\n%.500s", resp.StatusCode, resp.Request.URL, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	// The link works once.
	resp, err = (&http.Client{}).Get(link.URL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the link's second use: %d, want 401", resp.StatusCode)
	}
	// Text output names the link too.
	if out := e2etest.MustQuai(t, d.Socket, "dashboard"); !strings.Contains(out, "/ui/login/link?code=") {
		t.Errorf("quai dashboard:\n%s", out)
	}
}
