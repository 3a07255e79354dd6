package proxy

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"strings"
)

// unavailableRetryAfter is the Retry-After of the 503 page, in seconds: a
// first release usually turns healthy within a few.
const unavailableRetryAfter = 5

// unavailablePage is the page of a routed host with no healthy target (its
// instance is stopped, or deploying its first release): small, without
// external resources, readable on a phone.
var unavailablePage = template.Must(template.New("503").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.Host}} is temporarily unavailable</title>
<style>
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;background:#f6f7f9;display:flex;min-height:100vh;align-items:center;justify-content:center}
main{max-width:32rem;margin:1rem;padding:2rem;background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.4rem;margin:0 0 .75rem}
p{margin:.5rem 0}
small{color:#777}
@media (prefers-color-scheme:dark){body{background:#15171a;color:#ddd}main{background:#1f2226;box-shadow:none}small{color:#999}}
</style>
</head>
<body>
<main>
<h1>{{.Host}} is temporarily unavailable</h1>
<p>The application is starting, being updated or stopped. Please try again in a few moments.</p>
<p><small>503 Service Unavailable</small></p>
</main>
</body>
</html>
`))

// unavailable answers a request for a route without a healthy target: 503
// with Retry-After, as the one JSON error shape for clients that ask for
// JSON, else as a small HTML page. It returns the status.
func (p *Proxy) unavailable(w http.ResponseWriter, r *http.Request, host string) int {
	h := w.Header()
	h.Set("Retry-After", strconv.Itoa(unavailableRetryAfter))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if wantsJSON(r.Header.Get("Accept")) {
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{
			"code":    "unavailable",
			"message": host + " is temporarily unavailable: no healthy instance serves it (starting, updating or stopped)",
			"hint":    "retry after " + strconv.Itoa(unavailableRetryAfter) + " seconds",
		}})
		return http.StatusServiceUnavailable
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	if r.Method != http.MethodHead {
		// html/template escapes the host.
		_ = unavailablePage.Execute(w, struct{ Host string }{host})
	}
	return http.StatusServiceUnavailable
}

// wantsJSON reports an Accept header that prefers JSON to HTML: it names
// application/json (or a +json type) and not text/html.
func wantsJSON(accept string) bool {
	return (strings.Contains(accept, "application/json") || strings.Contains(accept, "+json")) &&
		!strings.Contains(accept, "text/html")
}
