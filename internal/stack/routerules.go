package stack

import (
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"

	"github.com/quai-dev/quai/internal/access"
)

// RouteRules are a route's access rules and response options: the keys of
// x-quai.routes[] beyond where the route goes. quai's proxy enforces them
// (process and Docker runtimes); a runtime that routes through something
// else says in its plan which it cannot enforce, and refuses the security
// ones rather than drop them.
type RouteRules struct {
	// Allow and Deny are client addresses and CIDR prefixes, canonical
	// ("10.0.0.0/8", "192.0.2.7/32").
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
	// TrustedProxies are the peers whose X-Forwarded-For names the client.
	TrustedProxies []string          `json:"trusted_proxies,omitempty"`
	BasicAuth      *RouteBasicAuth   `json:"basic_auth,omitempty"`
	ForwardAuth    *RouteForwardAuth `json:"forward_auth,omitempty"`
	RateLimit      *RouteRateLimit   `json:"rate_limit,omitempty"`
	// MaxBody is the largest request body in bytes; 0 for no limit.
	MaxBody int64 `json:"max_body,omitempty"`
	// Headers are set on every response; an empty value removes one (the
	// default Strict-Transport-Security of TLS routes included).
	Headers map[string]string `json:"headers,omitempty"`
	// Redirect is RedirectWWWToApex or RedirectApexToWWW.
	Redirect string `json:"redirect,omitempty"`
	// Compress lists the encodings offered, in order of preference.
	Compress []string `json:"compress,omitempty"`
}

// RouteBasicAuth is HTTP basic authentication: UsersSecret names a sealed
// secret whose value holds "name:hash" lines (bcrypt or argon2id), so no
// hash is ever written in the stack.
type RouteBasicAuth struct {
	UsersSecret string `json:"users_secret"`
	Realm       string `json:"realm,omitempty"`
}

// RouteForwardAuth asks an external authenticator (oauth2-proxy, Authelia)
// about each request, as Traefik's forwardAuth does.
type RouteForwardAuth struct {
	URL         string        `json:"url"`
	CopyHeaders []string      `json:"copy_headers,omitempty"`
	Timeout     time.Duration `json:"timeout,omitempty"`
}

// RouteRateLimit bounds requests per client address.
type RouteRateLimit struct {
	PerSecond float64 `json:"per_second"`
	Burst     int     `json:"burst,omitempty"`
}

// Redirect values of a route.
const (
	RedirectWWWToApex = "www-to-apex"
	RedirectApexToWWW = "apex-to-www"
)

// Compression encodings a route may offer.
const (
	CompressZstd = "zstd"
	CompressGzip = "gzip"
)

var (
	ruleKeys        = []string{"allow", "basic_auth", "compress", "deny", "forward_auth", "headers", "max_body", "rate_limit", "redirect", "trusted_proxies"}
	basicAuthKeys   = []string{"realm", "users_secret"}
	forwardAuthKeys = []string{"copy_headers", "timeout", "url"}
	rateLimitKeys   = []string{"burst", "per_second"}
	redirects       = []string{RedirectApexToWWW, RedirectWWWToApex}
	encodings       = []string{CompressZstd, CompressGzip}
)

// RedirectFrom is the host the route's redirect sends to its own host:
// www.<host> for www-to-apex, the host without www. for apex-to-www.
func (r Route) RedirectFrom() string {
	if r.Rules == nil {
		return ""
	}
	switch r.Rules.Redirect {
	case RedirectWWWToApex:
		return "www." + r.Host
	case RedirectApexToWWW:
		return strings.TrimPrefix(r.Host, "www.")
	}
	return ""
}

// Keys lists the rule keys r sets, as written in x-quai.routes[], sorted;
// security reports whether one of them controls who gets in (allow, deny,
// basic_auth, forward_auth, rate_limit, max_body), the rules a runtime that
// cannot enforce them must refuse rather than drop.
func (r *RouteRules) Keys() (keys []string, security bool) {
	if r == nil {
		return nil, false
	}
	set := map[string]bool{
		"allow": len(r.Allow) > 0, "deny": len(r.Deny) > 0, "trusted_proxies": len(r.TrustedProxies) > 0,
		"basic_auth": r.BasicAuth != nil, "forward_auth": r.ForwardAuth != nil, "rate_limit": r.RateLimit != nil,
		"max_body": r.MaxBody > 0, "headers": len(r.Headers) > 0, "redirect": r.Redirect != "", "compress": len(r.Compress) > 0,
	}
	for _, k := range ruleKeys {
		if !set[k] {
			continue
		}
		keys = append(keys, k)
		switch k {
		case "allow", "deny", "basic_auth", "forward_auth", "rate_limit", "max_body":
			security = true
		}
	}
	return keys, security
}

// routeRules decodes the rule keys of route m at path p; nil when it has
// none. ok is false when one is invalid.
func (c *checker) routeRules(p string, m map[string]any) (*RouteRules, bool) {
	var r RouteRules
	ok := true
	set := false
	bad := func() { ok = false }
	for _, k := range []struct {
		key  string
		into *[]string
	}{{"allow", &r.Allow}, {"deny", &r.Deny}, {"trusted_proxies", &r.TrustedProxies}} {
		v, found := m[k.key]
		if !found {
			continue
		}
		set = true
		if list, good := c.prefixList(p+"."+k.key, v); good {
			*k.into = list
		} else {
			bad()
		}
	}
	if v, found := m["basic_auth"]; found {
		set = true
		if r.BasicAuth = c.basicAuth(p+".basic_auth", v); r.BasicAuth == nil {
			bad()
		}
	}
	if v, found := m["forward_auth"]; found {
		set = true
		if r.ForwardAuth = c.forwardAuth(p+".forward_auth", v); r.ForwardAuth == nil {
			bad()
		}
	}
	if v, found := m["rate_limit"]; found {
		set = true
		if r.RateLimit = c.rateLimit(p+".rate_limit", v); r.RateLimit == nil {
			bad()
		}
	}
	if v, found := m["max_body"]; found {
		set = true
		if n, good := c.byteSize(p+".max_body", v); good {
			r.MaxBody = n
		} else {
			bad()
		}
	}
	if v, found := m["headers"]; found {
		set = true
		if r.Headers = c.headers(p+".headers", v); r.Headers == nil {
			bad()
		}
	}
	if v, found := m["redirect"]; found {
		set = true
		if s, good := c.str(p+".redirect", v); good && slices.Contains(redirects, s) {
			r.Redirect = s
		} else {
			if good {
				c.errf(p+".redirect", joinHints(didYouMean(s, redirects), "redirect is www-to-apex or apex-to-www; plain HTTP always goes to HTTPS on TLS routes"), "unknown redirect %q", s)
			}
			bad()
		}
	}
	if v, found := m["compress"]; found {
		set = true
		if list, good := c.compress(p+".compress", v); good {
			r.Compress = list
		} else {
			bad()
		}
	}
	if !set {
		return nil, ok
	}
	if r.isEmpty() {
		return nil, ok
	}
	return &r, ok
}

func (r *RouteRules) isEmpty() bool {
	return len(r.Allow) == 0 && len(r.Deny) == 0 && len(r.TrustedProxies) == 0 && r.BasicAuth == nil && r.ForwardAuth == nil &&
		r.RateLimit == nil && r.MaxBody == 0 && len(r.Headers) == 0 && r.Redirect == "" && len(r.Compress) == 0
}

const cidrHint = "write addresses or CIDR prefixes, e.g. [10.0.0.0/8, 192.0.2.7, 2001:db8::/32]"

func (c *checker) prefixList(path string, v any) ([]string, bool) {
	list, ok := v.([]any)
	if !ok {
		c.errf(path, cidrHint, "must be a list of addresses or CIDR prefixes, got %s", describe(v))
		return nil, false
	}
	out := make([]string, 0, len(list))
	good := true
	for i, item := range list {
		ip := joinPath(path, strconv.Itoa(i))
		s, ok := c.str(ip, item)
		if !ok {
			good = false
			continue
		}
		ps, err := access.ParsePrefixList([]string{s})
		if err != nil {
			c.errf(ip, cidrHint, "%v", err)
			good = false
			continue
		}
		if ps[0].String() != strings.TrimSpace(s) && strings.Contains(s, "/") {
			c.errf(ip, fmt.Sprintf("write %s: the bits after the prefix length must be zero", ps[0]), "%q has host bits set", s)
			good = false
			continue
		}
		out = append(out, ps[0].String())
	}
	return out, good
}

func (c *checker) basicAuth(path string, v any) *RouteBasicAuth {
	const example = "e.g. basic_auth: { users_secret: admin_users }, where the sealed secret admin_users holds name:bcrypt-hash lines"
	m, ok := c.mapping(path, v)
	if !ok {
		return nil
	}
	c.keys(path, m, basicAuthKeys, nil)
	b := &RouteBasicAuth{}
	sv, found := m["users_secret"]
	if !found {
		c.errf(path, example, "basic_auth has no users_secret")
		return nil
	}
	s, ok := c.str(path+".users_secret", sv)
	if !ok || s == "" {
		if ok {
			c.errf(path+".users_secret", example, "users_secret is empty")
		}
		return nil
	}
	b.UsersSecret = s
	if rv, found := m["realm"]; found {
		r, ok := c.str(path+".realm", rv)
		if !ok {
			return nil
		}
		if strings.ContainsAny(r, "\"\\\r\n") {
			c.errf(path+".realm", "use letters, digits and spaces, e.g. realm: Admin", "realm %q must not hold quotes, backslashes or line breaks", r)
			return nil
		}
		b.Realm = r
	}
	return b
}

func (c *checker) forwardAuth(path string, v any) *RouteForwardAuth {
	const example = "e.g. forward_auth: { url: http://oauth2-proxy:4180/oauth2/auth, copy_headers: [X-Auth-Request-Email] } with oauth2-proxy a service of the stack"
	m, ok := c.mapping(path, v)
	if !ok {
		return nil
	}
	c.keys(path, m, forwardAuthKeys, nil)
	f := &RouteForwardAuth{}
	uv, found := m["url"]
	if !found {
		c.errf(path, example, "forward_auth has no url")
		return nil
	}
	s, ok := c.str(path+".url", uv)
	if !ok {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		c.errf(path+".url", example, "url %q is not an http:// or https:// URL with a host (and no user or fragment)", s)
		return nil
	}
	if why := refusedAuthHost(u.Hostname()); why != "" {
		c.errf(path+".url", "run the authenticator as a service of this stack and name it as the host, e.g. http://oauth2-proxy:4180/oauth2/auth, or give an address of another machine",
			"url %q names %s, which the proxy refuses to call for forward auth", s, why)
		return nil
	}
	f.URL = s
	good := true
	if hv, found := m["copy_headers"]; found {
		hp := path + ".copy_headers"
		if list, ok := c.stringList(hp, hv); ok {
			for i, h := range list {
				if !headerName(h) {
					c.errf(joinPath(hp, strconv.Itoa(i)), "e.g. X-Auth-Request-User", "%q is not a header name", h)
					good = false
				}
			}
			f.CopyHeaders = list
		} else {
			good = false
		}
	}
	if tv, found := m["timeout"]; found {
		d, ok := c.duration(path+".timeout", tv)
		switch {
		case !ok:
			good = false
		case d > 30*time.Second:
			c.errf(path+".timeout", "an authenticator answers in milliseconds; 5s (the default) is plenty", "timeout %s is above 30s", d)
			good = false
		default:
			f.Timeout = d
		}
	}
	if !good {
		return nil
	}
	return f
}

func (c *checker) rateLimit(path string, v any) *RouteRateLimit {
	const example = "e.g. rate_limit: { per_second: 10, burst: 20 }"
	m, ok := c.mapping(path, v)
	if !ok {
		return nil
	}
	c.keys(path, m, rateLimitKeys, nil)
	r := &RouteRateLimit{}
	pv, found := m["per_second"]
	if !found {
		c.errf(path, example, "rate_limit has no per_second")
		return nil
	}
	f, ok := c.number(path+".per_second", pv)
	if !ok {
		return nil
	}
	if f <= 0 || f > 1e6 {
		c.errf(path+".per_second", example+"; 0.5 is one request every two seconds", "per_second must be more than 0 and at most 1000000, got %v", f)
		return nil
	}
	r.PerSecond = f
	if bv, found := m["burst"]; found {
		n, ok := c.integer(path+".burst", bv)
		if !ok {
			return nil
		}
		if n < 1 || n > 1e6 {
			c.errf(path+".burst", "burst is how many requests may come at once, at least 1", "burst must be between 1 and 1000000, got %d", n)
			return nil
		}
		r.Burst = n
	}
	return r
}

func (c *checker) byteSize(path string, v any) (int64, bool) {
	const hint = "write a number of bytes with a unit, e.g. 10M or 512K"
	var n int64
	switch v := v.(type) {
	case int, int64, uint64, float64:
		i, ok := c.integer(path, v)
		if !ok {
			return 0, false
		}
		n = int64(i)
	case string:
		b, err := units.RAMInBytes(v)
		if err != nil {
			c.errf(path, hint, "invalid size %q", v)
			return 0, false
		}
		n = b
	default:
		c.errf(path, hint, "must be a size, got %s", describe(v))
		return 0, false
	}
	if n < 1 {
		c.errf(path, hint+"; leave the key out for no limit", "max_body must be at least 1 byte, got %d", n)
		return 0, false
	}
	return n, true
}

func (c *checker) headers(path string, v any) map[string]string {
	m, ok := c.mapping(path, v)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(m))
	good := true
	for _, k := range slices.Sorted(maps.Keys(m)) {
		kp := joinPath(path, k)
		if !headerName(k) {
			c.errf(kp, "header names are letters, digits and dashes, e.g. X-Frame-Options", "%q is not a header name", k)
			good = false
			continue
		}
		val := ""
		if m[k] != nil {
			s, ok := c.scalar(kp, m[k])
			if !ok {
				good = false
				continue
			}
			val = s
		}
		if strings.ContainsAny(val, "\r\n\x00") {
			c.errf(kp, "write the value on one line", "the value of %s holds a line break", k)
			good = false
			continue
		}
		for _, h := range []string{"Content-Length", "Content-Encoding", "Transfer-Encoding", "Connection", "Set-Cookie", "Location"} {
			if strings.EqualFold(k, h) {
				c.errf(kp, "headers adds fixed response headers; the app sets this one", "%s cannot be set by the route", h)
				good = false
			}
		}
		out[k] = val
	}
	if !good {
		return nil
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// headerName reports an HTTP token (RFC 9110 5.1).
func headerName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if c >= 0x80 || !alnum && strings.IndexByte("!#$%&'*+-.^_`|~", c) < 0 {
			return false
		}
	}
	return true
}

func (c *checker) compress(path string, v any) ([]string, bool) {
	const hint = "compress: true offers zstd and gzip; or list them, e.g. compress: [gzip]"
	switch v := v.(type) {
	case bool:
		if v {
			return slices.Clone(encodings), true
		}
		return nil, true
	case []any:
		list, ok := c.stringList(path, v)
		if !ok {
			return nil, false
		}
		for i, e := range list {
			if !slices.Contains(encodings, e) {
				c.errf(joinPath(path, strconv.Itoa(i)), joinHints(didYouMean(e, encodings), hint), "unknown encoding %q", e)
				return nil, false
			}
		}
		return slices.Compact(list), true
	}
	c.errf(path, hint, "must be true, false or a list of encodings, got %s", describe(v))
	return nil, false
}

// checkRouteRules checks what needs the whole model: the users secret is
// declared and sealed, and a redirect has a host to work with.
func checkRouteRules(c *checker, m *Model, p string, r rawRoute) bool {
	rules := r.Rules
	if rules == nil {
		return true
	}
	good := true
	if b := rules.BasicAuth; b != nil {
		sp := p + ".basic_auth.users_secret"
		s := m.Secret(b.UsersSecret)
		declared := make([]string, 0, len(m.Secrets))
		for _, sec := range m.Secrets {
			declared = append(declared, sec.Name)
		}
		switch {
		case s == nil:
			c.errf(sp, joinHints(didYouMean(b.UsersSecret, declared), fmt.Sprintf("declare it: secrets: { %s: { external: true } }, and set it with `quai secrets set`", b.UsersSecret)), "secret %q is not declared", b.UsersSecret)
			good = false
		case !s.Sealed():
			c.errf(sp, fmt.Sprintf("make it a sealed secret: secrets: { %s: { external: true } }, set with `quai secrets set`", b.UsersSecret), "secret %q comes from a file or variable; the users of basic auth must come from a sealed secret", b.UsersSecret)
			good = false
		}
	}
	if rules.Redirect != "" {
		rp := p + ".redirect"
		switch {
		case !r.hostSet:
			c.errf(rp, "give the route its public host, e.g. host: example.com", "redirect needs the route's host")
			good = false
		case strings.HasPrefix(r.Host, "*."):
			c.errf(rp, "give the route an exact host", "a wildcard host cannot redirect")
			good = false
		case rules.Redirect == RedirectWWWToApex && strings.HasPrefix(r.Host, "www."):
			c.errf(rp, fmt.Sprintf("write the apex as the host (host: %s), or use apex-to-www", strings.TrimPrefix(r.Host, "www.")), "www-to-apex sends www.<host> to the route's host, which is %s already", r.Host)
			good = false
		case rules.Redirect == RedirectApexToWWW && (!strings.HasPrefix(r.Host, "www.") || strings.Count(r.Host, ".") < 2):
			c.errf(rp, fmt.Sprintf("write the www host as the host (host: www.%s), or use www-to-apex", r.Host), "apex-to-www sends the apex to the route's host, which must start with www.")
			good = false
		}
	}
	return good
}

// refusedAuthHost says why the proxy would refuse a forward-auth URL's host
// whatever the stack's services (the proxy checks every address it dials;
// this catches the obvious ones when the stack loads), or "".
func refusedAuthHost(host string) string {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return "this host (localhost)"
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return access.LocalAddress(a, false)
	}
	return ""
}
