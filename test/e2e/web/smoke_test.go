package webe2e

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/quai-dev/quai/internal/web"
)

// needChromium skips (fails in CI) without Chromium.
func needChromium(t *testing.T) string {
	t.Helper()
	for _, b := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(b); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium (run scripts/deps.sh as root)")
	}
	t.Skip("no chromium (run scripts/deps.sh as root)")
	return ""
}

// TestLoginPageInBrowser: the login page loads its scripts under the
// strict Content-Security-Policy with no error, the user field has the
// focus and Tab moves to the password, every field has its label, and the theme toggle cycles auto → light → dark.
func TestLoginPageInBrowser(t *testing.T) {
	exe := needChromium(t)
	h, err := web.New(web.Options{API: http.NotFoundHandler()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ctx := browser(t, exe)()
	do(t, ctx, "open the login page", chromedp.Navigate(srv.URL+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#user")))
	if got := text(t, ctx, "h1"); got != "Log in to quai" {
		t.Errorf("h1 %q", got)
	}
	focused := func() string {
		return get(t, ctx, "focused", chromedp.Evaluate[string]("document.activeElement.id"))
	}
	if got := focused(); got != "user" {
		t.Errorf("the page opens with %q focused, want the user field", got)
	}
	do(t, ctx, "tab to the password", chromedp.KeyEvent("\t"))
	if got := focused(); got != "password" {
		t.Errorf("Tab from the user field focuses %q, want the password", got)
	}
	for _, want := range []string{"light", "dark", ""} {
		do(t, ctx, "toggle the theme", chromedp.Click(chromedp.CSS("#theme")))
		if got := get(t, ctx, "theme", chromedp.Evaluate[string]("document.documentElement.dataset.theme || ''")); got != want {
			t.Errorf("theme %q, want %q", got, want)
		}
	}
	for _, lbl := range []string{"user", "password", "token"} {
		n := get(t, ctx, "label", chromedp.Evaluate[int](`document.querySelectorAll('label[for="`+lbl+`"]').length`))
		if n != 1 {
			t.Errorf("input #%s has %d labels", lbl, n)
		}
	}
}
