package stack

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const rulesStack = `secrets:
  admin_users:
    external: true
services:
  web:
    image: nginx:1.27
    expose: ["80"]
x-quai:
  routes:
    - host: example.com
      service: web
      port: 80
      allow: [10.0.0.0/8, 192.0.2.7, "2001:db8::/32"]
      deny: [10.6.6.0/24]
      trusted_proxies: [172.16.0.0/12]
      basic_auth: { users_secret: admin_users, realm: Admin }
      forward_auth: { url: "http://auth.example.com:4180/oauth2/auth", copy_headers: [X-Auth-Request-User], timeout: 2s }
      rate_limit: { per_second: 2.5, burst: 10 }
      max_body: 10M
      headers: { X-Frame-Options: DENY, Strict-Transport-Security: null }
      redirect: www-to-apex
      compress: true
    - host: www.shop.example.com
      service: web
      port: 80
      redirect: apex-to-www
      compress: [gzip]
`

func TestRouteRules(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": rulesStack})
	m, err := Load(context.Background(), Options{Dir: dir, Environ: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	r := m.Routes[0]
	got, _ := json.Marshal(r.Rules)
	want := `{"allow":["10.0.0.0/8","192.0.2.7/32","2001:db8::/32"],"deny":["10.6.6.0/24"],"trusted_proxies":["172.16.0.0/12"],` +
		`"basic_auth":{"users_secret":"admin_users","realm":"Admin"},` +
		`"forward_auth":{"url":"http://auth.example.com:4180/oauth2/auth","copy_headers":["X-Auth-Request-User"],"timeout":` + jsonInt(2*time.Second) + `},` +
		`"rate_limit":{"per_second":2.5,"burst":10},"max_body":10485760,"headers":{"Strict-Transport-Security":"","X-Frame-Options":"DENY"},` +
		`"redirect":"www-to-apex","compress":["zstd","gzip"]}`
	if string(got) != want {
		t.Errorf("rules:\n got %s\nwant %s", got, want)
	}
	if from := r.RedirectFrom(); from != "www.example.com" {
		t.Errorf("redirect from %q", from)
	}
	keys, security := r.Rules.Keys()
	if len(keys) != 10 || !security {
		t.Errorf("keys %v security %v", keys, security)
	}
	if from := m.Routes[1].RedirectFrom(); from != "shop.example.com" {
		t.Errorf("apex-to-www redirect from %q", from)
	}
	if _, security := m.Routes[1].Rules.Keys(); security {
		t.Error("redirect and compress counted as security rules")
	}
}

func jsonInt(d time.Duration) string { b, _ := json.Marshal(d); return string(b) }

// TestForwardAuthRefusedHosts: an authenticator URL the proxy would refuse
// whatever happens (this host, cloud metadata) is an error when the stack
// loads; a service of the stack or another machine is not.
func TestForwardAuthRefusedHosts(t *testing.T) {
	cases := []struct {
		url  string
		want string // "" for accepted
	}{
		{"http://127.0.0.1:4180/oauth2/auth", "this host (a loopback address)"},
		{"http://127.8.0.1/auth", "this host (a loopback address)"},
		{"http://[::1]:4180/auth", "this host (a loopback address)"},
		{"http://[::ffff:127.0.0.1]:4180/auth", "this host (a loopback address)"},
		{"http://169.254.169.254/latest/meta-data/", "a link-local address"},
		{"http://localhost:4180/auth", "this host (localhost)"},
		{"http://auth.localhost./auth", "this host (localhost)"},
		{"http://0.0.0.0:4180/auth", "this host (the unspecified address)"},
		{"http://web:4180/oauth2/auth", ""},
		{"https://10.1.2.3/auth", ""},
		{"https://auth.example.com/auth", ""},
	}
	for _, tc := range cases {
		stack := `services:
  web:
    image: nginx:1.27
    expose: ["80"]
x-quai:
  routes:
    - host: example.com
      service: web
      port: 80
      forward_auth: { url: "` + tc.url + `" }
`
		dir := writeProject(t, map[string]string{"compose.yaml": stack})
		_, err := Load(context.Background(), Options{Dir: dir, Environ: map[string]string{}})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.url, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "refuses to call")):
			t.Errorf("%s: error %v, want one saying %q", tc.url, err, tc.want)
		}
	}
}
