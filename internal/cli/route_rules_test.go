package cli_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestUpRouteRules deploys, through the daemon and the process runtime, a
// stack whose route asks for basic auth with users from a sealed secret,
// a rate limit, an extra header and compression: the hash reaches the
// proxy only through `quai secrets set`, the plan prints the rules, the
// proxy refuses what it should, and neither the verbs' output nor the
// daemon log holds the hash.
func TestUpRouteRules(t *testing.T) {
	d, log := secretsDaemon(t)
	var tr transcript
	dir := testAppProject(t, "guarded", `x-quai:
  project: guarded
  routes:
    - path: /
      service: web
      port: 8080
      basic_auth: { users_secret: admin_users, realm: Guarded }
      rate_limit: { per_second: 1, burst: 50 }
      headers: { X-Frame-Options: DENY }
      compress: true
secrets:
  admin_users:
    external: true
services:
  web:
    image: quai-test-app
    environment:
      QUAI_TESTAPP: "1"
    expose: [8080]
    x-quai:
      health: { path: /healthz }
      process:
        command: [%q]
`)
	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tr.must(t, d, "admin:"+string(hash)+"\n", "secrets", "set", dir, "--env", "dev", "admin_users")
	plan := tr.must(t, d, "", "up", dir, "--env", "dev", "--dry-run")
	if !strings.Contains(plan.stdout, "basic auth: users from secret admin_users") || !strings.Contains(plan.stdout, "rate limit 1/s burst 50") {
		t.Errorf("the plan does not show the route's rules:\n%s", plan.stdout)
	}
	tr.must(t, d, "", "up", dir, "--env", "dev", "-y")

	send := func(user, pass string) (int, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+d.ProxyHTTPAddr()+"/healthz", nil)
		req.Host = "guarded.dev.localhost"
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	if status, h := send("", ""); status != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), `realm="Guarded"`) {
		t.Errorf("without credentials: %d %q, want 401 with the realm", status, h.Get("WWW-Authenticate"))
	}
	if status, _ := send("admin", "wrong"); status != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", status)
	}
	if status, h := send("admin", "correct horse"); status != http.StatusOK || h.Get("X-Frame-Options") != "DENY" {
		t.Errorf("right password: %d, X-Frame-Options %q; want 200 and DENY", status, h.Get("X-Frame-Options"))
	}
	for _, where := range []struct{ what, text string }{{"the verbs' output", tr.out.String()}, {"the daemon log", log.String()}} {
		if strings.Contains(where.text, string(hash)) {
			t.Errorf("%s holds the password hash", where.what)
		}
	}
	// The users come from the sealed file only: the project holds no hash.
	scanFor(t, "the project", dir, []string{string(hash)})
}
