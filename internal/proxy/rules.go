package proxy

import (
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/quai-dev/quai/internal/access"
)

// Rules are a route's access rules and response options. A route without
// any (nil) keeps the fast path; one with rules that act on plain HTTP is
// served through net/http and the middleware chain compiled from them when
// the route table is applied (edge), never per request. Every field
// travels with the route table as JSON.
type Rules struct {
	// Allow and Deny are CIDR prefixes (or single addresses) of client
	// addresses: a client in Deny is refused, and with Allow set only a
	// client in Allow is let through. 403 otherwise.
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
	// TrustedProxies are the peers whose X-Forwarded-For is believed when
	// the client address is taken for Allow, Deny and RateLimit: the
	// right-most address in it that is not itself a trusted proxy. Without
	// them (and without Config.TrustForwardedHeaders) the client is the
	// TCP peer.
	TrustedProxies []string `json:"trusted_proxies,omitempty"`
	// BasicAuth asks for HTTP basic credentials checked against hashes.
	BasicAuth *BasicAuth `json:"basic_auth,omitempty"`
	// ForwardAuth asks an external authenticator about every request.
	ForwardAuth *ForwardAuth `json:"forward_auth,omitempty"`
	// RateLimit bounds the requests per client address.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
	// MaxBody is the largest request body in bytes (413 beyond); 0 means
	// no limit.
	MaxBody int64 `json:"max_body,omitempty"`
	// Headers are set on every response; an empty value removes the
	// header, which is how a TLS route turns the default
	// Strict-Transport-Security off.
	Headers map[string]string `json:"headers,omitempty"`
	// RedirectFrom are hosts answered with a permanent redirect to the
	// route's host, same path and query (www → apex, apex → www).
	RedirectFrom []string `json:"redirect_from,omitempty"`
	// Compress lists the encodings offered to clients, in the server's
	// order of preference: "zstd", "gzip".
	Compress []string `json:"compress,omitempty"`
}

// BasicAuth is HTTP basic authentication against bcrypt or argon2id hashes.
type BasicAuth struct {
	// Users is the content of a users file: "name:hash" lines, blank
	// lines and # comments allowed (ParseUsers). It comes from a sealed
	// secret; it never holds a password in clear.
	Users string `json:"users"`
	// Realm is shown by browsers in the login prompt; "quai" by default.
	Realm string `json:"realm,omitempty"`
}

// ForwardAuth sends each request's headers (no body) to URL; a 2xx answer
// lets the request through with CopyHeaders copied from that answer onto
// the request, any other answer goes back to the client as is. An
// authenticator that fails or does not answer within Timeout refuses the
// request (fail closed).
//
// The proxy calls only addresses that are not loopback, unspecified,
// link-local, multicast, one of the host's own, or a replica of another
// instance, checked on the address dialed after name resolution (so DNS
// rebinding does not get around it). When URL names a service of the
// route's own stack, the engine fills Targets with that service's
// replicas: the proxy then dials them (in turn) instead of the URL's host,
// wherever they listen.
type ForwardAuth struct {
	URL         string        `json:"url"`
	CopyHeaders []string      `json:"copy_headers,omitempty"`
	Timeout     time.Duration `json:"timeout,omitempty"`
	Targets     []string      `json:"targets,omitempty"`
}

// RateLimit is a token bucket per client address (an IPv6 /64 counts as
// one): PerSecond requests per second on average, Burst at once.
type RateLimit struct {
	PerSecond float64 `json:"per_second"`
	Burst     int     `json:"burst,omitempty"`
}

// Encodings the proxy can compress with.
const (
	EncodingZstd = "zstd"
	EncodingGzip = "gzip"
)

// DefaultHSTS is the Strict-Transport-Security value of HTTPS responses of
// TLS routes that set none (one year; no includeSubDomains or preload,
// which would bind hosts the route does not own).
const DefaultHSTS = "max-age=31536000"

// Limits of rule settings that keep the proxy's memory bounded.
const (
	maxForwardAuthTimeout  = 30 * time.Second
	defaultForwardAuthWait = 5 * time.Second
)

// normalizeRules checks r's rules and returns them in canonical form; it
// is called from normalize with the route's own error prefix.
func normalizeRules(rules *Rules, host string, fail func(string, ...any) error) (*Rules, error) {
	if rules == nil {
		return nil, nil
	}
	out := *rules
	out.RedirectFrom = slices.Clone(rules.RedirectFrom)
	out.Compress = slices.Clone(rules.Compress)
	out.Headers = maps.Clone(rules.Headers)
	if rules.BasicAuth != nil {
		b := *rules.BasicAuth
		out.BasicAuth = &b
	}
	if rules.ForwardAuth != nil {
		f := *rules.ForwardAuth
		f.CopyHeaders = slices.Clone(f.CopyHeaders)
		f.Targets = slices.Clone(f.Targets)
		out.ForwardAuth = &f
	}
	if rules.RateLimit != nil {
		l := *rules.RateLimit
		out.RateLimit = &l
	}
	var err error
	for _, list := range []struct {
		name string
		p    *[]string
	}{{"allow", &out.Allow}, {"deny", &out.Deny}, {"trusted_proxies", &out.TrustedProxies}} {
		prefixes, perr := access.ParsePrefixList(*list.p)
		if perr != nil {
			return nil, fail("%s: %v", list.name, perr)
		}
		*list.p = prefixStrings(prefixes)
	}
	if out.BasicAuth != nil {
		if _, err = access.ParseUsers(out.BasicAuth.Users); err != nil {
			return nil, fail("basic auth: %v", err)
		}
		if strings.ContainsAny(out.BasicAuth.Realm, "\"\\\r\n") {
			return nil, fail("basic auth realm %q must not hold quotes, backslashes or line breaks", out.BasicAuth.Realm)
		}
	}
	if fa := out.ForwardAuth; fa != nil {
		if msg := checkAuthURL(fa.URL); msg != "" {
			return nil, fail("forward auth: %s", msg)
		}
		if msg := checkAuthTargets(fa.Targets); msg != "" {
			return nil, fail("forward auth: %s", msg)
		}
		if fa.Timeout < 0 || fa.Timeout > maxForwardAuthTimeout {
			return nil, fail("forward auth timeout %s is not between 0 and %s", fa.Timeout, maxForwardAuthTimeout)
		}
		for _, h := range fa.CopyHeaders {
			if !isToken([]byte(h)) {
				return nil, fail("forward auth: %q is not a header name", h)
			}
		}
	}
	if rl := out.RateLimit; rl != nil {
		if !(rl.PerSecond > 0) || rl.PerSecond > 1e6 {
			return nil, fail("rate limit of %v requests per second is not between 0 and 1000000", rl.PerSecond)
		}
		if rl.Burst < 0 || rl.Burst > 1e6 {
			return nil, fail("rate limit burst %d is not between 0 and 1000000", rl.Burst)
		}
	}
	if out.MaxBody < 0 {
		return nil, fail("max body %d is negative", out.MaxBody)
	}
	for k, v := range out.Headers {
		if !isToken([]byte(k)) || strings.ContainsAny(v, "\r\n\x00") {
			return nil, fail("header %q: %q is not a valid header", k, v)
		}
	}
	for i, h := range out.RedirectFrom {
		h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
		if !validHostname(h) || h == host {
			return nil, fail("redirect from %q: give another exact host name than the route's", h)
		}
		out.RedirectFrom[i] = h
	}
	for _, e := range out.Compress {
		if e != EncodingZstd && e != EncodingGzip {
			return nil, fail("compress %q is unknown; use %q or %q", e, EncodingZstd, EncodingGzip)
		}
	}
	return &out, nil
}

func checkAuthURL(s string) string {
	switch {
	case s == "":
		return "the authenticator URL is empty"
	case !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://"):
		return fmt.Sprintf("URL %q must start with http:// or https://", s)
	}
	if _, err := http.NewRequest(http.MethodGet, s, nil); err != nil {
		return fmt.Sprintf("URL %q: %v", s, err)
	}
	return ""
}

func prefixStrings(ps []netip.Prefix) []string {
	if len(ps) == 0 {
		return nil
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// prefixSet answers whether an address is in any of its prefixes.
type prefixSet []netip.Prefix

func (s prefixSet) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// edge is a route's compiled rules: built once when the table is built,
// read-only afterwards except for the rate limiter's and the basic-auth
// cache's own synchronised state.
type edge struct {
	// plain: the rules act on plain-HTTP requests too (anything beyond the
	// HTTPS-only HSTS default), so the fast path must leave the route to
	// net/http.
	plain bool
	// redirectTo is set on the routes of RedirectFrom hosts: they only
	// redirect there.
	redirectTo string

	allow, deny, trusted prefixSet
	basic                *basicAuth
	fwd                  *forwardAuth
	limiter              *rateLimiter
	maxBody              int64
	// headers are set on every response, del removed; hsts is the
	// Strict-Transport-Security value of HTTPS responses ("" for none).
	headers     [][2]string
	del         []string
	hsts        string
	compress    []string
	hasRequests bool // any rule acts before forwarding
}

// compileEdge builds the chain of a route; nil when the route has nothing
// to apply (the fast path stays as is).
func compileEdge(r Route) (*edge, error) {
	hstsDefault := r.TLS != TLSOff && !isLocalName(r.Host) && !isLocalName(strings.TrimPrefix(r.Host, "*."))
	if r.Rules == nil && !hstsDefault {
		return nil, nil
	}
	e := &edge{}
	if hstsDefault {
		e.hsts = DefaultHSTS
	}
	rules := r.Rules
	if rules == nil {
		return e, nil
	}
	var err error
	var ps []netip.Prefix
	if ps, err = access.ParsePrefixList(rules.Allow); err != nil {
		return nil, err
	}
	e.allow = ps
	if ps, err = access.ParsePrefixList(rules.Deny); err != nil {
		return nil, err
	}
	e.deny = ps
	if ps, err = access.ParsePrefixList(rules.TrustedProxies); err != nil {
		return nil, err
	}
	e.trusted = ps
	if rules.BasicAuth != nil {
		if e.basic, err = newBasicAuth(rules.BasicAuth); err != nil {
			return nil, err
		}
	}
	if rules.ForwardAuth != nil {
		e.fwd = newForwardAuth(rules.ForwardAuth)
	}
	e.maxBody = rules.MaxBody
	for _, k := range slices.Sorted(maps.Keys(rules.Headers)) {
		ck := http.CanonicalHeaderKey(k)
		v := rules.Headers[k]
		if ck == "Strict-Transport-Security" {
			e.hsts = v // "" turns it off
			continue
		}
		if v == "" {
			e.del = append(e.del, ck)
		} else {
			e.headers = append(e.headers, [2]string{ck, v})
		}
	}
	e.compress = rules.Compress
	e.hasRequests = len(e.allow) > 0 || len(e.deny) > 0 || e.basic != nil || e.fwd != nil || rules.RateLimit != nil || e.maxBody > 0
	e.plain = e.hasRequests || len(e.headers) > 0 || len(e.del) > 0 || len(e.compress) > 0
	return e, nil
}

// serveRules applies rt's edge to a request ServeHTTP routed to it and then
// forwards it (or opens the tunnel) through the wrapped writer. upgrade
// reports a tunnel, for the statistics.
func (p *Proxy) serveRules(w http.ResponseWriter, r *http.Request, rt *route, host string) (res result, upgrade bool) {
	e := rt.edge
	if e.redirectTo != "" {
		return result{status: p.redirectHost(w, r, e.redirectTo)}, false
	}
	if e.hasRequests {
		client := p.clientAddr(r, e)
		if status := e.admitAddr(client); status != 0 {
			return result{status: p.plainError(w, status, "quai: access to %s%s is not allowed from this address\n", rt.Host, rt.Path)}, false
		}
		if e.limiter != nil {
			if ok, retry := e.limiter.allow(client, time.Now()); !ok {
				w.Header().Set("Retry-After", strconv.Itoa(retry))
				return result{status: p.plainError(w, http.StatusTooManyRequests, "quai: too many requests; retry in %d s\n", retry)}, false
			}
		}
		if e.maxBody > 0 {
			if r.ContentLength > e.maxBody {
				return result{status: p.plainError(w, http.StatusRequestEntityTooLarge, "quai: the request body is larger than %d bytes\n", e.maxBody)}, false
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, e.maxBody)
			}
		}
		if e.basic != nil {
			user, ok := e.basic.check(r)
			if !ok {
				w.Header().Set("WWW-Authenticate", `Basic realm="`+e.basic.realm+`", charset="UTF-8"`)
				return result{status: p.plainError(w, http.StatusUnauthorized, "quai: authentication required\n")}, false
			}
			// The app sees who logged in, never the password.
			r.Header.Del("Authorization")
			r.Header.Set("X-Forwarded-User", user)
		}
		if e.fwd != nil {
			if status, done := e.fwd.check(w, r, client, p.log); done {
				return result{status: status}, false
			}
		}
	}
	if isUpgrade(r) {
		return p.serveUpgrade(w, r, rt), true
	}
	hw := w
	var cw *compressWriter
	if len(e.headers) > 0 || len(e.del) > 0 || (e.hsts != "" && r.TLS != nil) {
		hw = &headerWriter{ResponseWriter: w, e: e, tls: r.TLS != nil}
	}
	if len(e.compress) > 0 && r.Method != http.MethodHead {
		cw = newCompressWriter(hw, negotiate(r.Header["Accept-Encoding"], e.compress))
		hw = cw
	}
	res = p.forward(hw, r, rt)
	if cw != nil {
		if err := cw.Close(); err != nil && !res.truncated {
			res.truncated = true
		}
	}
	return res, false
}

// clientAddr is the address the rules judge: the TCP peer, or, when the
// peer is a trusted proxy, the right-most X-Forwarded-For entry that is
// not one. An address that does not parse is the zero Addr, which no
// allow list contains.
func (p *Proxy) clientAddr(r *http.Request, e *edge) netip.Addr {
	peer, _ := netip.ParseAddr(clientIP(r.RemoteAddr))
	peer = peer.Unmap()
	trustAll := p.trustForwarded
	if !trustAll && !e.trusted.contains(peer) {
		return peer
	}
	xff := r.Header["X-Forwarded-For"]
	client := peer
	for i := len(xff) - 1; i >= 0; i-- {
		v := xff[i]
		for v != "" {
			j := strings.LastIndexByte(v, ',')
			entry := trimOWS(v[j+1:])
			v = v[:max(j, 0)]
			if entry == "" {
				continue
			}
			a, err := netip.ParseAddr(entry)
			if err != nil {
				return netip.Addr{}
			}
			client = a.Unmap()
			if !trustAll && !e.trusted.contains(client) {
				return client
			}
		}
	}
	return client
}

// admitAddr returns 403 for a client the deny list names or the allow
// list leaves out, 0 otherwise.
func (e *edge) admitAddr(a netip.Addr) int {
	if len(e.deny) > 0 && a.IsValid() && e.deny.contains(a) {
		return http.StatusForbidden
	}
	if len(e.allow) > 0 && (!a.IsValid() || !e.allow.contains(a)) {
		return http.StatusForbidden
	}
	return 0
}

// redirectHost answers a RedirectFrom host with a permanent redirect to
// the canonical host, keeping the scheme, path and query.
func (p *Proxy) redirectHost(w http.ResponseWriter, r *http.Request, to string) int {
	uri := r.RequestURI
	if uri == "" || uri[0] != '/' {
		uri = r.URL.RequestURI()
	}
	scheme, port := "http", ""
	if r.TLS != nil || p.httpsLn != nil && !isLocalName(to) {
		scheme, port = "https", p.httpsSuffix
	} else if p.httpLn != nil {
		if _, pt, ok := strings.Cut(r.Host, ":"); ok && !strings.HasSuffix(r.Host, "]") {
			port = ":" + pt
		}
	}
	w.Header().Set("Location", scheme+"://"+to+port+uri)
	w.WriteHeader(http.StatusPermanentRedirect)
	return http.StatusPermanentRedirect
}

// headerWriter sets the route's response headers just before the status
// line goes out, over whatever the upstream sent.
type headerWriter struct {
	http.ResponseWriter
	e     *edge
	tls   bool
	wrote bool
}

func (h *headerWriter) WriteHeader(status int) {
	if !h.wrote {
		h.wrote = true
		hd := h.Header()
		for _, k := range h.e.del {
			delete(hd, k)
		}
		for _, kv := range h.e.headers {
			hd[kv[0]] = []string{kv[1]}
		}
		if h.tls && h.e.hsts != "" {
			hd["Strict-Transport-Security"] = []string{h.e.hsts}
		}
	}
	h.ResponseWriter.WriteHeader(status)
}

func (h *headerWriter) Write(b []byte) (int, error) {
	if !h.wrote {
		h.WriteHeader(http.StatusOK)
	}
	return h.ResponseWriter.Write(b)
}

func (h *headerWriter) Flush() {
	if f, ok := h.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the server's writer.
func (h *headerWriter) Unwrap() http.ResponseWriter { return h.ResponseWriter }
