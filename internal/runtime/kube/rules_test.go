package kube_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/crypto/bcrypt"

	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/kube"
	"github.com/quai-dev/quai/internal/runtime/kube/kubetest"
	"github.com/quai-dev/quai/internal/stack"
)

// ruleRequest sends method to path on the controller's address with host
// as the Host header (and TLS server name when pool is set), without
// following redirects, and returns the answer and its body.
func ruleRequest(t *testing.T, addr, host, method, path, body string, pool *x509.CertPool, header http.Header) (answer, string) {
	t.Helper()
	scheme, tr := "http", &http.Transport{DisableKeepAlives: true}
	if pool != nil {
		scheme = "https"
		tr.TLSClientConfig = &tls.Config{ServerName: host, RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(method, scheme+"://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range header {
		req.Header[k] = v
	}
	cl := &http.Client{Timeout: 5 * time.Second, Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := cl.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, host, path, err)
	}
	b, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, host, path, err)
	}
	return answer{StatusCode: res.StatusCode, Header: res.Header}, string(b)
}

// answer is a response whose body was read.
type answer struct {
	StatusCode int
	Header     http.Header
}

// TestRouteRulesTraefik deploys routes carrying access rules rendered as
// Traefik Middlewares and checks through the cluster's Traefik that each
// allows and refuses what it should, as quai's own proxy does.
func TestRouteRulesTraefik(t *testing.T) {
	c := shared.Require(t)
	c.GoImage(t, echoImage, filepath.Join(repoRoot(t), "internal", "runtime", "kube"), "./testdata/echo", v1.Config{
		Entrypoint: []string{"/app"}, User: "65532:65532", ExposedPorts: map[string]struct{}{"8080/tcp": {}},
	})
	r, err := kube.New(kube.Options{Config: c.Config, RolloutTimeout: 3 * time.Minute,
		Render: render.KubeOptions{IngressClass: kubetest.IngressClass, IngressController: render.ControllerTraefik}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })

	// The authenticator of forward_auth, on the host as another machine
	// would be: a token says who the client is, or that it is known but
	// has no name; anyone else is sent to a login page.
	var authSaw atomic.Value
	authn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authSaw.Store(r.Header.Get("X-Forwarded-Host") + " " + r.Header.Get("X-Forwarded-Uri"))
		switch r.Header.Get("X-Token") {
		case "good":
			w.Header().Set("X-Auth-Request-User", "ann")
		case "anon":
		default:
			http.Redirect(w, r, "https://login.example/start", http.StatusFound)
		}
	}))
	t.Cleanup(authn.Close)

	dir := t.TempDir()
	pool := selfSigned(t, dir, "secure.rules.test")
	route := func(host string, rules *stack.RouteRules) stack.Route {
		return stack.Route{Host: host, Path: "/", Service: "web", Port: 8080, TLS: stack.TLSOff, Rules: rules}
	}
	m := &stack.Model{
		Identity: stack.Identity{Org: "default", Project: "rules", Env: "test"},
		Dir:      dir,
		Services: []*stack.Service{{Name: "web", Image: echoImage, Replicas: 1, Expose: []int{8080}, User: "65532:65532",
			Environment: map[string]string{"MESSAGE": "hello"}}},
		Secrets: []stack.Secret{{Name: "admins", External: true}},
		Routes: []stack.Route{
			route("plain.rules.test", nil),
			route("allowed.rules.test", &stack.RouteRules{Allow: []string{"127.0.0.0/8", "::1/128"}}),
			route("outside.rules.test", &stack.RouteRules{Allow: []string{"10.0.0.0/8"}}),
			route("denied.rules.test", &stack.RouteRules{Allow: []string{"127.0.0.0/8"}, Deny: []string{"127.0.0.1/32"}}),
			route("auth.rules.test", &stack.RouteRules{BasicAuth: &stack.RouteBasicAuth{UsersSecret: "admins", Realm: "Admin"}}),
			route("rate.rules.test", &stack.RouteRules{RateLimit: &stack.RouteRateLimit{PerSecond: 0.05, Burst: 2}}),
			route("body.rules.test", &stack.RouteRules{MaxBody: 1024}),
			route("apex.rules.test", &stack.RouteRules{Redirect: stack.RedirectWWWToApex}),
			route("fa.rules.test", &stack.RouteRules{ForwardAuth: &stack.RouteForwardAuth{URL: authn.URL + "/auth", CopyHeaders: []string{"X-Auth-Request-User"}}}),
			{Host: "secure.rules.test", Path: "/", Service: "web", Port: 8080, TLS: stack.TLSCustom, CertFile: "site.pem", KeyFile: "site.key",
				Rules: &stack.RouteRules{Headers: map[string]string{"X-Frame-Options": "DENY"}}},
		},
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := r.Delete(ctx, m.Identity, true); err != nil {
			t.Errorf("purge: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	users := "# the admins\n\nann:" + string(hash) + "\n"
	if err := r.Apply(ctx, m, runtime.ApplyOptions{Release: 1, Secrets: map[string][]byte{"admins": []byte(users)}}); err != nil {
		t.Fatalf("apply: %v\nkubelet:\n%s", err, c.LogTail("kubelet", 30))
	}
	awaitRoute(t, c, c.IngressHTTP, "plain.rules.test", nil, "hello")
	// Every router is there once the last route answers.
	awaitRoute(t, c, c.IngressHTTPS, "secure.rules.test", pool, "hello")

	getBody := func(host, path string, header http.Header) (answer, string) {
		return ruleRequest(t, c.IngressHTTP, host, http.MethodGet, path, "", nil, header)
	}
	get := func(host string, header http.Header) answer {
		res, _ := getBody(host, "/x?y=1", header)
		return res
	}
	expect := func(what string, res answer, want int) {
		t.Helper()
		if res.StatusCode != want {
			t.Errorf("%s: %d, want %d\ntraefik:\n%s", what, res.StatusCode, want, c.LogTail("traefik", 20))
		}
	}
	expect("allow list holding loopback", get("allowed.rules.test", nil), http.StatusOK)
	expect("allow list without loopback", get("outside.rules.test", nil), http.StatusForbidden)
	expect("loopback allowed but denied", get("denied.rules.test", nil), http.StatusForbidden)
	// A forged X-Forwarded-For does not make a client someone else.
	expect("forged X-Forwarded-For", get("outside.rules.test", http.Header{"X-Forwarded-For": {"10.1.2.3"}}), http.StatusForbidden)

	basic := func(user, pass string) http.Header {
		req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
		req.SetBasicAuth(user, pass)
		return req.Header
	}
	res := get("auth.rules.test", nil)
	expect("no credentials", res, http.StatusUnauthorized)
	if h := res.Header.Get("WWW-Authenticate"); !strings.Contains(h, `realm="Admin"`) {
		t.Errorf("WWW-Authenticate %q, want realm Admin", h)
	}
	expect("wrong password", get("auth.rules.test", basic("ann", "wrong")), http.StatusUnauthorized)
	expect("unknown user", get("auth.rules.test", basic("bob", "s3cret")), http.StatusUnauthorized)
	res, body := getBody("auth.rules.test", "/?h=X-Forwarded-User&h=Authorization", basic("ann", "s3cret"))
	expect("right password", res, http.StatusOK)
	if !strings.Contains(body, "X-Forwarded-User=ann\n") || !strings.Contains(body, "Authorization=\n") {
		t.Errorf("the app received %q, want X-Forwarded-User ann and no Authorization header", body)
	}

	// A burst of 2 refilled every 20 s: the third request in a row is
	// refused whatever the machine's speed.
	var codes []int
	for range 3 {
		codes = append(codes, get("rate.rules.test", nil).StatusCode)
	}
	if codes[0] != http.StatusOK || codes[2] != http.StatusTooManyRequests {
		t.Errorf("rate limit of burst 2: %v, want 200 first and 429 third", codes)
	}

	post := func(n int) answer {
		res, _ := ruleRequest(t, c.IngressHTTP, "body.rules.test", http.MethodPost, "/", strings.Repeat("x", n), nil, nil)
		return res
	}
	expect("body under max_body", post(512), http.StatusOK)
	expect("body over max_body", post(4096), http.StatusRequestEntityTooLarge)

	res = get("www.apex.rules.test", nil)
	// Traefik's permanent redirect is a 301 for GET (308 otherwise).
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusMovedPermanently || !strings.HasPrefix(loc, "http://apex.rules.test") || !strings.HasSuffix(loc, "/x?y=1") {
		t.Errorf("www-to-apex: %d Location %q, want a 301 to http://apex.rules.test…/x?y=1", res.StatusCode, loc)
	}
	expect("the apex itself", get("apex.rules.test", nil), http.StatusOK)

	res, body = getBody("fa.rules.test", "/in?h=X-Auth-Request-User", http.Header{"X-Token": {"good"}})
	expect("forward auth, known client", res, http.StatusOK)
	if !strings.Contains(body, "X-Auth-Request-User=ann\n") {
		t.Errorf("the app received %q, want the authenticator's X-Auth-Request-User ann", body)
	}
	if saw, _ := authSaw.Load().(string); saw != "fa.rules.test /in?h=X-Auth-Request-User" {
		t.Errorf("the authenticator saw %q, want the client's host and URI", saw)
	}
	res, body = getBody("fa.rules.test", "/?h=X-Auth-Request-User", http.Header{"X-Token": {"anon"}, "X-Auth-Request-User": {"mallory"}})
	expect("forward auth, nameless client", res, http.StatusOK)
	if !strings.Contains(body, "X-Auth-Request-User=\n") {
		t.Errorf("the app received %q: a client's own X-Auth-Request-User must not reach it", body)
	}
	res = get("fa.rules.test", nil)
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "https://login.example/start" {
		t.Errorf("forward auth, unknown client: %d Location %q, want the authenticator's 302 to its login page", res.StatusCode, res.Header.Get("Location"))
	}

	// Users hashed with argon2id, which neither controller checks, are
	// refused before anything is applied: the route keeps its users.
	argon := "ann:$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n"
	err = r.Apply(ctx, m, runtime.ApplyOptions{Release: 2, Secrets: map[string][]byte{"admins": []byte(argon)}})
	if !errors.Is(err, render.ErrHtpasswd) || !strings.Contains(err.Error(), "argon2id") {
		t.Errorf("apply with argon2id users: %v, want ErrHtpasswd naming argon2id", err)
	}
	expect("right password after the refused apply", get("auth.rules.test", basic("ann", "s3cret")), http.StatusOK)

	res, _ = ruleRequest(t, c.IngressHTTPS, "secure.rules.test", http.MethodGet, "/", "", pool, nil)
	expect("HTTPS route", res, http.StatusOK)
	if got := res.Header.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("X-Frame-Options %q, want DENY", got)
	}
	if got := res.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
		t.Errorf("Strict-Transport-Security %q, want quai's default max-age=31536000", got)
	}
	res = get("secure.rules.test", nil)
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusMovedPermanently || !strings.HasPrefix(loc, "https://secure.rules.test") {
		t.Errorf("plain HTTP to a TLS route: %d Location %q, want a 301 to https", res.StatusCode, loc)
	}

	// ingress-nginx has no binary here: the same instance rendered for it
	// (annotations, the htpasswd Secret) is validated by the apiserver.
	nginx, err := kube.New(kube.Options{Config: c.Config, RolloutTimeout: 3 * time.Minute,
		Render: render.KubeOptions{IngressClass: kubetest.IngressNginxClass, IngressController: render.ControllerNginx}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nginx.Close() })
	if err := nginx.Apply(ctx, m, runtime.ApplyOptions{DryRun: true, Secrets: map[string][]byte{"admins": []byte(users)}}); err != nil {
		t.Errorf("dry run of the ingress-nginx rendering: %v", err)
	}

	// Its basic and forward auth annotations, and the htpasswd Secret
	// they name, served by Traefik's ingress-nginx provider (which reads
	// them as ingress-nginx does, and ignores the annotations it lacks).
	mn := &stack.Model{
		Identity: stack.Identity{Org: "default", Project: "rules-nginx", Env: "test"},
		Dir:      dir,
		Services: m.Services,
		Secrets:  m.Secrets,
		Routes: []stack.Route{
			route("auth.nginx.rules.test", &stack.RouteRules{BasicAuth: &stack.RouteBasicAuth{UsersSecret: "admins", Realm: "Admin"}}),
			route("fa.nginx.rules.test", &stack.RouteRules{ForwardAuth: &stack.RouteForwardAuth{URL: authn.URL + "/auth", CopyHeaders: []string{"X-Auth-Request-User"}}}),
		},
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := nginx.Delete(ctx, mn.Identity, true); err != nil {
			t.Errorf("purge: %v", err)
		}
	})
	if err := nginx.Apply(ctx, mn, runtime.ApplyOptions{Release: 1, Secrets: map[string][]byte{"admins": []byte(users)}}); err != nil {
		t.Fatalf("apply the ingress-nginx rendering: %v", err)
	}
	var last answer
	for range 300 {
		if last = get("auth.nginx.rules.test", basic("ann", "s3cret")); last.StatusCode == http.StatusOK {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	expect("ingress-nginx annotations: right password", last, http.StatusOK)
	expect("ingress-nginx annotations: no credentials", get("auth.nginx.rules.test", nil), http.StatusUnauthorized)
	expect("ingress-nginx annotations: wrong password", get("auth.nginx.rules.test", basic("ann", "wrong")), http.StatusUnauthorized)
	res, body = getBody("fa.nginx.rules.test", "/?h=X-Auth-Request-User", http.Header{"X-Token": {"good"}})
	expect("ingress-nginx annotations: forward auth, known client", res, http.StatusOK)
	if !strings.Contains(body, "X-Auth-Request-User=ann\n") {
		t.Errorf("ingress-nginx annotations: the app received %q, want the authenticator's X-Auth-Request-User ann", body)
	}
	if res := get("fa.nginx.rules.test", nil); res.StatusCode/100 == 2 {
		t.Errorf("ingress-nginx annotations: forward auth let an unknown client in: %d", res.StatusCode)
	}
}
