package engine

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/quai-dev/quai/internal/proxy"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// Route is one proxy route: requests for Host whose path starts with Path
// go to Targets. It is the proxy's own type, so that *proxy.Proxy
// implements Router as is.
type Route = proxy.Route

// routeHost is the route's host, or the default host pattern expanded for
// the instance when the route names none.
func routeHost(r stack.Route, id stack.Identity, pattern string) string {
	if r.Host != "" {
		return r.Host
	}
	return stack.ExpandHost(stack.HostPattern(pattern, id), id)
}

// routeKey is how the proxy tells routes apart: the host in lower case
// without a trailing dot, and the path without a trailing slash.
func routeKey(host, path string) string {
	host = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	if len(path) > 1 {
		path = cmp.Or(strings.TrimRight(path, "/"), "/")
	}
	return host + cmp.Or(path, "/")
}

func routePath(r stack.Route) string {
	if r.Path == "" {
		return "/"
	}
	return r.Path
}

// buildRoutes is the instance's route table for the given replicas: each
// route's targets are the addresses of its service's replicas.
func buildRoutes(m *stack.Model, handles map[string][]runtime.Handle, pattern string) []Route {
	routes := make([]Route, 0, len(m.Routes))
	for _, r := range m.Routes {
		targets := replicaAddresses(handles[r.Service])
		rt := Route{Host: routeHost(r, m.Identity, pattern), Path: routePath(r), Targets: targets, TLS: string(r.TLS), Service: r.Service}
		if r.TLS == stack.TLSCustom {
			rt.CertFile, rt.KeyFile = projectPath(m.Dir, r.CertFile), projectPath(m.Dir, r.KeyFile)
		}
		rt.Rules = proxyRules(r)
		if rt.Rules != nil && rt.Rules.ForwardAuth != nil {
			if svc := authService(m, rt.Rules.ForwardAuth.URL); svc != "" {
				rt.Rules.ForwardAuth.Targets = replicaAddresses(handles[svc])
			}
		}
		routes = append(routes, rt)
	}
	return routes
}

// replicaAddresses are the distinct addresses of replicas, sorted.
func replicaAddresses(hs []runtime.Handle) []string {
	var out []string
	seen := map[string]bool{}
	for _, h := range hs {
		if h.Address != "" && !seen[h.Address] {
			seen[h.Address] = true
			out = append(out, h.Address)
		}
	}
	sort.Strings(out)
	return out
}

// authService is the service of m a forward-auth URL names by its host
// (http://oauth2-proxy:4180/oauth2/auth), or "". The proxy then calls that
// service's replicas, wherever they listen, instead of resolving the name.
func authService(m *stack.Model, rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	if s := m.Service(u.Hostname()); s != nil {
		return s.Name
	}
	return ""
}

// proxyRules is a route's rules as the proxy takes them; the users of basic
// auth are left for withRouteSecrets, which reads them from the release's
// sealed secrets.
func proxyRules(r stack.Route) *proxy.Rules {
	sr := r.Rules
	if sr == nil {
		return nil
	}
	out := &proxy.Rules{
		Allow: sr.Allow, Deny: sr.Deny, TrustedProxies: sr.TrustedProxies,
		MaxBody: sr.MaxBody, Headers: sr.Headers, Compress: sr.Compress,
	}
	if sr.BasicAuth != nil {
		out.BasicAuth = &proxy.BasicAuth{Realm: sr.BasicAuth.Realm}
	}
	if fa := sr.ForwardAuth; fa != nil {
		out.ForwardAuth = &proxy.ForwardAuth{URL: fa.URL, CopyHeaders: fa.CopyHeaders, Timeout: fa.Timeout}
	}
	if rl := sr.RateLimit; rl != nil {
		out.RateLimit = &proxy.RateLimit{PerSecond: rl.PerSecond, Burst: rl.Burst}
	}
	if from := r.RedirectFrom(); from != "" {
		out.RedirectFrom = []string{from}
	}
	return out
}

// withRouteSecrets gives each basic-auth route of routes (built from m by
// buildRoutes, in the same order) its users file: the value of the sealed
// secret it names, as the release recorded it. A value the store does not
// have is an error: a route that asks for a login never goes out without
// one.
func (e *Engine) withRouteSecrets(ctx context.Context, m *stack.Model, routes []Route) ([]Route, error) {
	var sealed map[string][]byte
	out := routes
	for i, r := range m.Routes {
		if r.Rules == nil || r.Rules.BasicAuth == nil || i >= len(routes) || routes[i].Rules == nil {
			continue
		}
		if sealed == nil {
			var err error
			if sealed, err = e.secretValues(ctx, m); err != nil {
				return nil, err
			}
			out = slices.Clone(routes)
		}
		name := r.Rules.BasicAuth.UsersSecret
		v, ok := sealed[name]
		if !ok {
			return nil, fmt.Errorf("%s: route %s%s: basic auth users secret %s has no resolved version: %w", m.Identity.Name(), routes[i].Host, routes[i].Path, name, ErrSecret)
		}
		rules := *routes[i].Rules
		rules.BasicAuth = &proxy.BasicAuth{Realm: rules.BasicAuth.Realm, Users: string(v)}
		out[i].Rules = &rules
	}
	return out, nil
}

// ruleSummary prints a route's rules for its plan line, each after "; ",
// so that a changed rule shows as a changed route.
func ruleSummary(r stack.Route) string {
	sr := r.Rules
	if sr == nil {
		return ""
	}
	var parts []string
	add := func(format string, args ...any) { parts = append(parts, fmt.Sprintf(format, args...)) }
	if len(sr.Allow) > 0 {
		add("allow %s", strings.Join(sr.Allow, ","))
	}
	if len(sr.Deny) > 0 {
		add("deny %s", strings.Join(sr.Deny, ","))
	}
	if len(sr.TrustedProxies) > 0 {
		add("trusted proxies %s", strings.Join(sr.TrustedProxies, ","))
	}
	if sr.BasicAuth != nil {
		add("basic auth: users from secret %s", sr.BasicAuth.UsersSecret)
	}
	if sr.ForwardAuth != nil {
		add("forward auth %s", sr.ForwardAuth.URL)
	}
	if sr.RateLimit != nil {
		add("rate limit %g/s burst %d per client", sr.RateLimit.PerSecond, sr.RateLimit.Burst)
	}
	if sr.MaxBody > 0 {
		add("max body %d bytes", sr.MaxBody)
	}
	for _, k := range slices.Sorted(maps.Keys(sr.Headers)) {
		if v := sr.Headers[k]; v == "" {
			add("header %s removed", k)
		} else {
			add("header %s: %s", k, v)
		}
	}
	if from := r.RedirectFrom(); from != "" {
		add("redirect %s → %s", from, r.Host)
	}
	if len(sr.Compress) > 0 {
		add("compress %s", strings.Join(sr.Compress, ","))
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, "; ")
}

func projectPath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// parkRoutes gives the router m's routes without targets: the proxy
// answers their hosts with its 503 page (the instance is stopped, or
// deploying its first release) instead of 404, and keeps them reserved.
// It reports whether the router took them.
func (e *Engine) parkRoutes(instance string, m *stack.Model, em *emitter) bool {
	routes := buildRoutes(m, nil, e.defaultHost)
	if e.router == nil || len(routes) == 0 {
		return false
	}
	if err := e.router.SetRoutes(instance, routes); err != nil {
		em.warn("", "", "the proxy refused the routes of the instance without replicas (its hosts answer 404 meanwhile): "+err.Error())
		return false
	}
	return true
}

// routeTargets returns the addresses the routes send traffic to.
func routeTargets(routes []Route) map[string]bool {
	out := map[string]bool{}
	for _, r := range routes {
		for _, t := range r.Targets {
			out[t] = true
		}
	}
	return out
}

var _ Router = (*proxy.Proxy)(nil)
