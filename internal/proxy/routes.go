package proxy

import (
	"bytes"
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
)

// Balancing strategies a Route may name.
const (
	RoundRobin = "round-robin"
	LeastConn  = "least-conn"
)

// TLS modes a Route may name.
const (
	TLSAuto   = "auto"   // local CA for *.localhost, ACME otherwise
	TLSOff    = "off"    // plain HTTP only
	TLSCustom = "custom" // CertFile and KeyFile
)

var (
	// ErrInvalidRoute is returned by SetRoutes when a route is malformed.
	ErrInvalidRoute = errors.New("invalid route")
	// ErrConflict is returned by SetRoutes when a host and path are already
	// routed by another instance, or a host's TLS settings disagree.
	ErrConflict = errors.New("route conflict")
)

// Route sends requests for Host (exact, or "*.example.com" for any single
// label under example.com) whose path starts with Path to Targets.
type Route struct {
	Host    string   // exact host, or "*.example.com"
	Path    string   // prefix, "/" default; longest prefix wins
	Targets []string // "host:port" of healthy replicas
	Balance string   // "round-robin" (default) | "least-conn"
	TLS     string   // "auto" (default) | "off" | "custom"
	// CertFile and KeyFile are PEM files, for TLS "custom" only.
	CertFile, KeyFile string
	// Service names the service behind the route, as a label of its
	// request statistics (Stats); routing does not use it.
	Service string
	// Rules are the route's access rules and response options (rules.go);
	// nil for none.
	Rules *Rules `json:",omitempty"`
}

// route is a validated Route bound to its live targets.
type route struct {
	Route
	table    *table // the table this route belongs to
	instance string
	wildcard bool
	targets  []*target
	rr       *rrCounter
	cert     *tls.Certificate // TLS custom only
	stats    *routeStats      // nil with Config.NoStats
	// edge is the compiled Rules (and the HSTS default of TLS routes);
	// nil keeps the request on the fast path untouched.
	edge *edge
}

// rrCounter is separate from route so the hot counter sits on its own
// cache line instead of next to read-mostly fields.
type rrCounter struct {
	_ [64]byte
	n atomic.Uint64
	_ [56]byte
}

// hostRoutes holds the routes of one host, longest path first.
type hostRoutes struct {
	routes []*route
	tls    string
	cert   *tls.Certificate
}

// table is the immutable routing table; a new one replaces it on every change.
type table struct {
	exact     map[string]*hostRoutes
	wild      map[string]*hostRoutes // keyed by the suffix after "*."
	instances map[string][]*route
}

func (t *table) hostEntry(host string) (exact, wild *hostRoutes) {
	exact = t.exact[host]
	if i := strings.IndexByte(host, '.'); i >= 0 {
		wild = t.wild[host[i+1:]]
	}
	return exact, wild
}

// match finds the route for a lowercased host without port and a path. It
// does not allocate.
func (t *table) match(host, path string) *route {
	exact, wild := t.hostEntry(host)
	if exact != nil {
		if r := exact.match(path); r != nil {
			return r
		}
	}
	if wild != nil {
		return wild.match(path)
	}
	return nil
}

// matchBytes is match for a host and path still in a read buffer; map
// lookups and comparisons through string(b) do not allocate. It stays a twin
// of match: one function generic over string and []byte ran about 60 more
// instructions a lookup than either (BenchmarkMatch under cachegrind), on
// the path every request takes.
func (t *table) matchBytes(host, path []byte) *route {
	exact := t.exact[string(host)]
	var wild *hostRoutes
	if i := bytes.IndexByte(host, '.'); i >= 0 {
		wild = t.wild[string(host[i+1:])]
	}
	if exact != nil {
		if r := exact.matchBytes(path); r != nil {
			return r
		}
	}
	if wild != nil {
		return wild.matchBytes(path)
	}
	return nil
}

func (h *hostRoutes) matchBytes(path []byte) *route {
	for _, r := range h.routes {
		prefix := r.Path
		if prefix == "/" {
			return r
		}
		if len(path) < len(prefix) || string(path[:len(prefix)]) != prefix {
			continue
		}
		if len(path) == len(prefix) || path[len(prefix)] == '/' || prefix[len(prefix)-1] == '/' {
			return r
		}
	}
	return nil
}

// hostTLS reports how a host is served over TLS, and whether it is routed.
func (t *table) hostTLS(host string) (*hostRoutes, bool) {
	exact, wild := t.hostEntry(host)
	if exact != nil {
		return exact, true
	}
	if wild != nil {
		return wild, true
	}
	return nil, false
}

func (h *hostRoutes) match(path string) *route {
	for _, r := range h.routes {
		if pathHasPrefix(path, r.Path) {
			return r
		}
	}
	return nil
}

// pathHasPrefix matches whole segments: "/api" matches "/api" and "/api/x"
// but not "/apix", so a route never captures a sibling's traffic.
func pathHasPrefix(path, prefix string) bool {
	if prefix == "/" {
		return true
	}
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || path[len(prefix)] == '/' || prefix[len(prefix)-1] == '/'
}

// normalize checks one route and returns it in canonical form.
func normalize(instance string, i int, r Route) (Route, error) {
	where := fmt.Sprintf("instance %q route %d", instance, i)
	fail := func(format string, args ...any) (Route, error) {
		return r, fmt.Errorf("%w: %s: %s", ErrInvalidRoute, where, fmt.Sprintf(format, args...))
	}
	r.Host = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(r.Host)), ".")
	if r.Host == "" {
		return fail("host is empty; give an exact host or *.domain")
	}
	name := strings.TrimPrefix(r.Host, "*.")
	if !validHostname(name) || (name != r.Host && !strings.Contains(name, ".") && name != "localhost") {
		return fail("host %q is not a valid host name (a wildcard is only allowed as a leading \"*.\")", r.Host)
	}
	r.Path = cmp.Or(r.Path, "/")
	if r.Path[0] != '/' || strings.ContainsAny(r.Path, "?# \t\r\n") {
		return fail("path %q must start with / and hold no query, fragment or spaces", r.Path)
	}
	if len(r.Path) > 1 {
		r.Path = strings.TrimRight(r.Path, "/")
		r.Path = cmp.Or(r.Path, "/")
	}
	seen := make(map[string]bool, len(r.Targets))
	targets := make([]string, 0, len(r.Targets))
	for _, t := range r.Targets {
		h, p, err := net.SplitHostPort(t)
		if err != nil || h == "" {
			return fail("target %q is not host:port", t)
		}
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fail("target %q has an invalid port", t)
		}
		if seen[t] {
			return fail("target %q is listed twice", t)
		}
		seen[t] = true
		targets = append(targets, t)
	}
	r.Targets = targets
	switch r.Balance {
	case "":
		r.Balance = RoundRobin
	case RoundRobin, LeastConn:
	default:
		return fail("balance %q is unknown; use %q or %q", r.Balance, RoundRobin, LeastConn)
	}
	switch r.TLS {
	case "":
		r.TLS = TLSAuto
	case TLSAuto, TLSOff:
	case TLSCustom:
		if r.CertFile == "" || r.KeyFile == "" {
			return fail("tls custom needs both a certificate file and a key file")
		}
	default:
		return fail("tls %q is unknown; use auto, off or custom", r.TLS)
	}
	if r.TLS != TLSCustom && (r.CertFile != "" || r.KeyFile != "") {
		return fail("certificate files are only used with tls custom, not %q", r.TLS)
	}
	rules, err := normalizeRules(r.Rules, r.Host, func(format string, args ...any) error {
		_, err := fail(format, args...)
		return err
	})
	if err != nil {
		return r, err
	}
	if rules != nil && len(rules.RedirectFrom) > 0 && strings.HasPrefix(r.Host, "*.") {
		return fail("a wildcard host cannot be the target of redirects; give the route an exact host")
	}
	r.Rules = rules
	return r, nil
}

func validHostname(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}

// routeKey identifies a route across instances.
type routeKey struct{ host, path string }

// buildTable validates the whole set of normalized routes and indexes them;
// binding to targets happens only once the table is known to be valid.
// newcomer is the instance whose routes are being set: it is checked last,
// so that a conflict names it as the one that wants a route another
// instance already serves, and not the other way round.
func buildTable(all map[string][]Route, newcomer string, loadCert func(instance, certFile, keyFile string) (*tls.Certificate, error)) (*table, error) {
	t := &table{
		exact:     make(map[string]*hostRoutes),
		wild:      make(map[string]*hostRoutes),
		instances: make(map[string][]*route, len(all)),
	}
	owners := make(map[routeKey]string)
	names := make([]string, 0, len(all))
	for name := range all {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == newcomer) != (names[j] == newcomer) {
			return names[j] == newcomer
		}
		return names[i] < names[j]
	})
	var errs []error
	certs := make(map[[3]string]*tls.Certificate)
	for _, inst := range names {
		for _, r := range all[inst] {
			rt := &route{Route: r, table: t, instance: inst, rr: &rrCounter{}}
			rt.wildcard = strings.HasPrefix(r.Host, "*.")
			e, err := compileEdge(r)
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: instance %q host %s: %w", ErrInvalidRoute, inst, r.Host, err))
				continue
			}
			rt.edge = e
			if r.TLS == TLSCustom {
				key := [3]string{inst, r.CertFile, r.KeyFile}
				c, ok := certs[key]
				if !ok {
					var err error
					c, err = loadCert(inst, r.CertFile, r.KeyFile)
					if err != nil {
						errs = append(errs, fmt.Errorf("%w: instance %q host %s: %w", ErrInvalidRoute, inst, r.Host, err))
						continue
					}
					certs[key] = c
				}
				rt.cert = c
			}
			k := routeKey{r.Host, r.Path}
			if other, ok := owners[k]; ok {
				if other == inst {
					errs = append(errs, fmt.Errorf("%w: instance %q routes %s%s twice", ErrInvalidRoute, inst, r.Host, r.Path))
				} else {
					errs = append(errs, fmt.Errorf("%w: instance %q: %s%s is already routed by instance %q; remove it from one of them", ErrConflict, inst, r.Host, r.Path, other))
				}
				continue
			}
			owners[k] = inst
			m, key := t.exact, r.Host
			if rt.wildcard {
				m, key = t.wild, r.Host[2:]
			}
			h := m[key]
			if h == nil {
				h = &hostRoutes{tls: r.TLS, cert: rt.cert}
				m[key] = h
			} else if h.tls != r.TLS || h.cert != rt.cert {
				errs = append(errs, fmt.Errorf("%w: instance %q: host %s is served with tls %q by another route; every route of a host must share its TLS settings", ErrConflict, inst, r.Host, h.tls))
				continue
			}
			h.routes = append(h.routes, rt)
			t.instances[inst] = append(t.instances[inst], rt)
			if r.Rules != nil {
				errs = append(errs, t.addRedirects(rt, owners)...)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, m := range []map[string]*hostRoutes{t.exact, t.wild} {
		for _, h := range m {
			sort.SliceStable(h.routes, func(i, j int) bool { return len(h.routes[i].Path) > len(h.routes[j].Path) })
		}
	}
	return t, nil
}

// addRedirects routes each of rt's RedirectFrom hosts (same path) to a
// route that only redirects to rt's host. The redirect routes are not the
// instance's own routes (snapshot, statistics) but take their host and
// path like any other, so conflicts are found the same way.
func (t *table) addRedirects(rt *route, owners map[routeKey]string) []error {
	var errs []error
	for _, from := range rt.Rules.RedirectFrom {
		k := routeKey{from, rt.Path}
		if other, ok := owners[k]; ok {
			errs = append(errs, fmt.Errorf("%w: instance %q: %s%s, which redirects to %s, is already routed by instance %q; remove it from one of them", ErrConflict, rt.instance, from, rt.Path, rt.Host, other))
			continue
		}
		owners[k] = rt.instance
		red := &route{Route: Route{Host: from, Path: rt.Path, TLS: rt.TLS, Service: rt.Service}, table: t, instance: rt.instance,
			rr: &rrCounter{}, cert: rt.cert, edge: &edge{plain: true, redirectTo: rt.Host}}
		h := t.exact[from]
		if h == nil {
			h = &hostRoutes{tls: rt.TLS, cert: rt.cert}
			t.exact[from] = h
		} else if h.tls != rt.TLS || h.cert != rt.cert {
			errs = append(errs, fmt.Errorf("%w: instance %q: host %s is served with tls %q by another route; every route of a host must share its TLS settings", ErrConflict, rt.instance, from, h.tls))
			continue
		}
		h.routes = append(h.routes, red)
	}
	return errs
}

// snapshot returns a deep copy of the routes, per instance.
func (t *table) snapshot() map[string][]Route {
	out := make(map[string][]Route, len(t.instances))
	for inst, rts := range t.instances {
		rs := make([]Route, len(rts))
		for i, rt := range rts {
			rs[i] = rt.Route
			rs[i].Targets = append([]string(nil), rt.Targets...)
		}
		out[inst] = rs
	}
	return out
}
