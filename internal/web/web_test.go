package web

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/web/webtest"
)

func newTestHandler(t testing.TB, n int) (*Handler, *http.Cookie) {
	t.Helper()
	h, err := New(Options{API: webtest.ManyInstances(n), Local: webtest.ManyInstances(n), Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/ui/login", strings.NewReader(url.Values{"token": {webtest.Token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	cs := rec.Result().Cookies()
	if len(cs) != 1 || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie %+v: want one, HttpOnly and SameSite=Lax", cs)
	}
	return h, cs[0]
}

func get(h http.Handler, path string, c *http.Cookie, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if c != nil {
		req.AddCookie(c)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestInstancesPage(t *testing.T) {
	h, c := newTestHandler(t, 30)
	tests := []struct {
		name, path string
		want       []string
		wantRows   int
	}{
		{"all", "/ui/", []string{"30 of 30 instances", `aria-sort="ascending"`}, 30},
		{"search", "/ui/?q=shop-0001", []string{"1 of 30 instances"}, 1},
		{"org", "/ui/?org=org03", []string{"2 of 30 instances", `<option value="org03" selected>`}, 2},
		{"sort", "/ui/?sort=rps&dir=desc", []string{`aria-sort="descending"`}, 30},
	}
	rows := regexp.MustCompile(`<tr data-instance=`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(h, tt.path, c)
			body := rec.Body.String()
			if rec.Code != http.StatusOK {
				t.Fatalf("%d\n%s", rec.Code, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if n := len(rows.FindAllString(body, -1)); n != tt.wantRows {
				t.Errorf("%d rows, want %d", n, tt.wantRows)
			}
		})
	}
	// htmx asks for the table alone.
	rec := get(h, "/ui/?q=shop-0002", c, "HX-Request", "true", "HX-Target", "instances")
	if b := rec.Body.String(); strings.Contains(b, "<html") || !strings.Contains(b, `id="instances"`) {
		t.Errorf("htmx answer is not the table alone:\n%.300s", b)
	}
}

func TestSecurity(t *testing.T) {
	h, c := newTestHandler(t, 1)
	rec := get(h, "/ui/", c)
	csp := rec.Header().Get("Content-Security-Policy")
	for _, w := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, w) {
			t.Errorf("CSP %q lacks %q", csp, w)
		}
	}
	if strings.Contains(rec.Body.String(), "<script>") || strings.Contains(rec.Body.String(), " style=") {
		t.Error("the page has inline script or style, which the CSP refuses")
	}
	t.Run("without a session the login page", func(t *testing.T) {
		rec := get(h, "/ui/i/x", nil)
		if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/ui/login?next=") {
			t.Errorf("%d %s", rec.Code, rec.Header().Get("Location"))
		}
	})
	t.Run("cross-site POST refused", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/ui/i/x/rollback", strings.NewReader("to=1"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.AddCookie(c)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			t.Errorf("cross-site POST: %d, want 403", rec.Code)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/ui/login", strings.NewReader("token=quai_nope"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized || len(rec.Result().Cookies()) != 0 {
			t.Errorf("bad token: %d, cookies %v", rec.Code, rec.Result().Cookies())
		}
	})
	t.Run("open redirect", func(t *testing.T) {
		for _, next := range []string{"//evil.example/ui/", "https://evil.example/", "/ui/\\evil"} {
			if got := safeNext(next); got != Prefix {
				t.Errorf("safeNext(%q) = %q", next, got)
			}
		}
	})
	t.Run("login link works once", func(t *testing.T) {
		code, _, err := h.LoginCode()
		if err != nil {
			t.Fatal(err)
		}
		rec := get(h, "/ui/login/link?code="+code, nil)
		if rec.Code != http.StatusSeeOther || len(rec.Result().Cookies()) != 1 {
			t.Fatalf("first use: %d", rec.Code)
		}
		if rec := get(h, "/ui/login/link?code="+code, nil); rec.Code != http.StatusUnauthorized {
			t.Errorf("second use: %d, want 401", rec.Code)
		}
	})
}

// TestPageWeight prints the JS and CSS a page loads as served, gzip
// (the goal is under 150 KB); the instances page loads no chart library.
func TestPageWeight(t *testing.T) {
	h, c := newTestHandler(t, 1)
	for _, page := range []string{"/ui/", "/ui/i/x"} {
		body := get(h, page, c).Body.String()
		if page == "/ui/i/x" {
			// The instance page needs the daemon; its head is the
			// layout's plus uPlot's.
			body = `src="/ui/static/theme.js" src="/ui/static/htmx-2.0.11.min.js" src="/ui/static/app.js" href="/ui/static/app.css" href="/ui/static/uplot-1.6.32.min.css" src="/ui/static/uplot-1.6.32.min.js"`
		}
		var raw, gz int
		for _, m := range regexp.MustCompile(`(?:src|href)="(/ui/static/[^"]+)"`).FindAllStringSubmatch(body, -1) {
			plain := get(h, m[1], nil)
			zipped := get(h, m[1], nil, "Accept-Encoding", "gzip, br")
			if plain.Code != http.StatusOK || zipped.Header().Get("Content-Encoding") != "gzip" {
				t.Fatalf("%s: %d, encoding %q", m[1], plain.Code, zipped.Header().Get("Content-Encoding"))
			}
			raw += plain.Body.Len()
			gz += zipped.Body.Len()
		}
		t.Logf("page %s: JS+CSS %.1f KB, %.1f KB gzip as served (goal < 150 KB)", page, float64(raw)/1024, float64(gz)/1024)
		if gz > 150<<10 {
			t.Errorf("page %s loads %d bytes of JS+CSS gzip, over 150 KB", page, gz)
		}
	}
}

// BenchmarkInstancesPage measures the dashboard's server time for the
// instances page with 500 instances (goal < 200 ms), over an API stub:
// the API's own time for the list is measured by its benchmarks.
func BenchmarkInstancesPage(b *testing.B) {
	h, c := newTestHandler(b, 500)
	b.ReportAllocs()
	var size int
	cpu0 := cpuTime()
	for b.Loop() {
		rec := get(h, "/ui/", c, "Accept-Encoding", "gzip")
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size)/1024, "KB-gzip/page")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/page")
	// On a shared machine the wall time includes waiting for a core; the
	// process's CPU time per page is the server's own work.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/page")
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
