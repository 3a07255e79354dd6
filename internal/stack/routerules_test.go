package stack

import (
	"context"
	"encoding/json"
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
      forward_auth: { url: "http://127.0.0.1:4180/oauth2/auth", copy_headers: [X-Auth-Request-User], timeout: 2s }
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
		`"forward_auth":{"url":"http://127.0.0.1:4180/oauth2/auth","copy_headers":["X-Auth-Request-User"],"timeout":` + jsonInt(2*time.Second) + `},` +
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
