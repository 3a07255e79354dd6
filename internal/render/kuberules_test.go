package render

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/goldentest"
	"github.com/quai-dev/quai/internal/render/helmtest"
	"github.com/quai-dev/quai/internal/stack"
)

// rulesModel has a route with every rule, a www redirect with forward auth
// to a service of the stack, and a plain TLS route.
func rulesModel() *stack.Model {
	return &stack.Model{
		Identity: stack.Identity{Project: "shop", Env: "prod"},
		Services: []*stack.Service{
			{Name: "web", Image: "nginx:1.27", Expose: []int{80}},
			{Name: "oauth2-proxy", Image: "quay.io/oauth2-proxy/oauth2-proxy:v7.6.0", Expose: []int{4180}},
		},
		Secrets: []stack.Secret{{Name: "admin_users", External: true}},
		Routes: []stack.Route{
			{Host: "admin.example.com", Service: "web", Port: 80, TLS: stack.TLSAuto, Rules: &stack.RouteRules{
				Allow: []string{"10.0.0.0/8", "2001:db8::/32"}, Deny: []string{"10.6.6.0/24"}, TrustedProxies: []string{"172.16.0.0/12"},
				BasicAuth: &stack.RouteBasicAuth{UsersSecret: "admin_users", Realm: "Admin"},
				RateLimit: &stack.RouteRateLimit{PerSecond: 10, Burst: 20}, MaxBody: 10 << 20,
				Headers:  map[string]string{"X-Frame-Options": "DENY", "X-Powered-By": ""},
				Compress: []string{"zstd", "gzip"},
			}},
			{Host: "example.com", Service: "web", Port: 80, TLS: stack.TLSAuto, Rules: &stack.RouteRules{
				Redirect:    stack.RedirectWWWToApex,
				ForwardAuth: &stack.RouteForwardAuth{URL: "http://oauth2-proxy/oauth2/auth", CopyHeaders: []string{"X-Auth-Request-User"}},
				RateLimit:   &stack.RouteRateLimit{PerSecond: 0.5},
				Deny:        []string{"192.0.2.0/24"},
			}},
			{Host: "shop.localhost", Service: "web", Port: 80, TLS: stack.TLSAuto},
		},
	}
}

// TestRouteRulesGolden: the rules as each controller reads them.
func TestRouteRulesGolden(t *testing.T) {
	for _, ctl := range []string{ControllerTraefik, ControllerNginx} {
		t.Run(ctl, func(t *testing.T) {
			ms := mustRender(t, rulesModel(), KubeOptions{IngressController: ctl})
			b, err := ms.YAML()
			if err != nil {
				t.Fatal(err)
			}
			var f strings.Builder
			for _, x := range ms.Findings {
				f.WriteString("# " + x.Verdict + " " + x.Setting + ": " + x.Message + "\n")
			}
			for _, s := range ms.Secrets {
				f.WriteString("# secret " + s.Name + " " + s.Type + " " + s.Key + " from " + s.Stack + "\n")
			}
			goldentest.Check(t, filepath.Join("testdata", "golden", "rules", ctl+".yaml"), append([]byte(f.String()), b...))
			for _, x := range ms.Findings {
				if x.Verdict == verdictRefuse {
					t.Errorf("refused on %s: %s", ctl, x.Message)
				}
			}
		})
	}
}

// TestRouteRulesOtherController: a controller quai has no syntax for gets
// the security rules refused, never dropped.
func TestRouteRulesOtherController(t *testing.T) {
	ms := mustRender(t, rulesModel(), KubeOptions{IngressController: ControllerOther})
	var refused []string
	for _, f := range ms.Findings {
		if f.Verdict == verdictRefuse {
			refused = append(refused, f.Setting)
		}
	}
	want := []string{"x-quai.routes.0.allow,basic_auth,compress,deny,headers,max_body,rate_limit,trusted_proxies", "x-quai.routes.1.deny,forward_auth,rate_limit,redirect"}
	if !slices.Equal(refused, want) {
		t.Errorf("refused %q, want %q", refused, want)
	}
	for _, o := range ms.Objects {
		if o.Kind == "Middleware" || len(o.Obj.GetAnnotations()) > 1 {
			t.Errorf("%s %s carries rules on an unknown controller: %v", o.Kind, o.Name, o.Obj.GetAnnotations())
		}
	}
	if _, err := Kubernetes(rulesModel(), KubeOptions{IngressController: "haproxy"}); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("unknown controller: %v, want ErrInvalidOption", err)
	}
	if got := (KubeOptions{IngressClass: "traefik"}).controller(); got != ControllerTraefik {
		t.Errorf("class traefik: controller %s", got)
	}
}

func TestSourceRange(t *testing.T) {
	for _, c := range []struct {
		allow, deny, want []string
	}{
		{[]string{"10.0.0.0/8"}, nil, []string{"10.0.0.0/8"}},
		{[]string{"10.0.0.0/8"}, []string{"10.0.0.0/9"}, []string{"10.128.0.0/9"}},
		{[]string{"10.0.0.0/30"}, []string{"10.0.0.1/32"}, []string{"10.0.0.0/32", "10.0.0.2/31"}},
		{nil, []string{"128.0.0.0/1", "::/1"}, []string{"0.0.0.0/1", "8000::/1"}},
		{[]string{"10.0.0.0/8", "192.0.2.7/32"}, []string{"192.0.2.0/24"}, []string{"10.0.0.0/8"}},
		{[]string{"10.1.0.0/16"}, []string{"10.0.0.0/8"}, []string{}},
	} {
		got, err := sourceRange(c.allow, c.deny)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("allow %v deny %v: %v %v, want %v", c.allow, c.deny, got, err, c.want)
		}
	}
}

func TestHtpasswd(t *testing.T) {
	const bc = "$2y$05$PNjuZv6gnm3Wp4.T1gRYMuUnBcAuz14ljfRnj2DlgeOmGgdZB4yde"
	got, err := Htpasswd([]byte("# admins\n\nann:" + bc + "\n  bob:" + bc + "  \n"))
	if err != nil || string(got) != "ann:"+bc+"\nbob:"+bc+"\n" {
		t.Fatalf("Htpasswd: %q %v", got, err)
	}
	for _, bad := range []string{"", "# none\n", "ann:$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA\n", "ann:plain\n", ":" + bc} {
		if _, err := Htpasswd([]byte(bad)); !errors.Is(err, ErrHtpasswd) {
			t.Errorf("Htpasswd(%q): %v, want ErrHtpasswd", bad, err)
		}
	}
}

// TestHelmRouteRules: the chart of an instance with route rules prints the
// Kubernetes rendering with the real helm, and the namespace in Traefik's
// middleware references and a forward-auth service's DNS name follows the
// namespace value.
func TestHelmRouteRules(t *testing.T) {
	h := helmtest.New(t)
	for _, ctl := range []string{ControllerTraefik, ControllerNginx} {
		t.Run(ctl, func(t *testing.T) {
			c, err := Helm(rulesModel(), HelmOptions{Kube: KubeOptions{IngressController: ctl}})
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), c.Name)
			for _, f := range c.Files {
				p := filepath.Join(dir, filepath.FromSlash(f.Path))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, f.Data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			kube, err := c.Manifests.YAML()
			if err != nil {
				t.Fatal(err)
			}
			out, err := h.Run("template", "r", dir)
			if err != nil {
				t.Fatal(err)
			}
			helmtest.Equal(t, out, kube)
			out, err = h.Run("template", "r", dir, "--set", "namespace=other-ns")
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(out), "default-shop-prod-") || strings.Contains(string(out), ".default-shop-prod.") {
				t.Errorf("--set namespace=other-ns left the rendered namespace in:\n%s", out)
			}
			if ctl == ControllerTraefik && !strings.Contains(string(out), "other-ns-admin-example-com-ip@kubernetescrd") {
				t.Errorf("middleware references do not follow the namespace:\n%s", out)
			}
			if !strings.Contains(string(out), "oauth2-proxy.other-ns.svc.cluster.local") {
				t.Errorf("the forward-auth address does not follow the namespace:\n%s", out)
			}
		})
	}
}
