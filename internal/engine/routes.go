package engine

import (
	"cmp"
	"path/filepath"
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
		var targets []string
		seen := map[string]bool{}
		for _, h := range handles[r.Service] {
			if h.Address != "" && !seen[h.Address] {
				seen[h.Address] = true
				targets = append(targets, h.Address)
			}
		}
		sort.Strings(targets)
		rt := Route{Host: routeHost(r, m.Identity, pattern), Path: routePath(r), Targets: targets, TLS: string(r.TLS), Service: r.Service}
		if r.TLS == stack.TLSCustom {
			rt.CertFile, rt.KeyFile = projectPath(m.Dir, r.CertFile), projectPath(m.Dir, r.KeyFile)
		}
		routes = append(routes, rt)
	}
	return routes
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
