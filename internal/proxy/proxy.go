package proxy

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"golang.org/x/time/rate"
)

// Default listen addresses; the daemon's flags start from these.
const (
	DefaultHTTPAddr  = ":8080"
	DefaultHTTPSAddr = ":8443"
)

var (
	// ErrNoDataDir is returned by New when HTTPS is on without a data
	// directory for the local CA and ACME storage.
	ErrNoDataDir = errors.New("the proxy needs a data directory to serve HTTPS")
	// ErrStarted is returned by Start on a proxy already started.
	ErrStarted = errors.New("proxy already started")
)

// Config configures a Proxy. An empty listen address disables that
// listener; DefaultHTTPAddr and DefaultHTTPSAddr are the usual values.
type Config struct {
	HTTPAddr, HTTPSAddr string
	// DataDir holds the local CA, issued certificates and ACME storage.
	DataDir string
	// ACMEEmail is the ACME account contact (may be empty); ACMEDirectory
	// is the CA: ACMEProduction (the default), ACMEStaging or the https URL
	// of an ACME directory, e.g. a test CA such as Pebble.
	ACMEEmail, ACMEDirectory string
	// ACMERenewCheck is how often ACME certificates are checked for
	// renewal; zero means certmagic's default (10 minutes). Tests with
	// short-lived certificates shorten it.
	ACMERenewCheck time.Duration
	// ACMERoots, when set, are the roots trusted for the ACME directory's
	// own HTTPS endpoint (a test CA).
	ACMERoots *x509.CertPool
	// Logger receives the access log, one line per request, and errors;
	// nil turns both off.
	Logger *slog.Logger
	// TrustForwardedHeaders keeps the X-Forwarded-* headers a client sent
	// (appending to X-Forwarded-For) instead of replacing them: only for a
	// proxy that sits behind another trusted proxy.
	TrustForwardedHeaders bool
	// MaxConns bounds the client connections of both listeners together;
	// zero means DefaultMaxConns of the process's file descriptor limit.
	MaxConns int
	// MaxConnsPerIP bounds the client connections from one address (an
	// IPv6 /64 counts as one); zero means DefaultMaxConnsPerIP, or no such
	// limit with TrustForwardedHeaders (every connection then comes from
	// the proxy in front); negative means no such limit.
	MaxConnsPerIP int
	// PressureIdleTimeout is how long idle keep-alive connections are kept
	// once more than 3/4 of MaxConns are open (until under half); zero
	// means DefaultPressureIdleTimeout.
	PressureIdleTimeout time.Duration
	// NoStats turns off the per-route request statistics (Stats); only
	// for measuring what they cost.
	NoStats bool
	// ForwardAuthLoopback lets routes' forward_auth authenticators be
	// called on loopback addresses, which are refused otherwise. Only for
	// tests, whose authenticators are httptest servers on loopback; no
	// stack setting or flag sets it.
	// It never travels to a proxy process (json "-").
	ForwardAuthLoopback bool `json:"-"`
	// AuthResolver resolves the host names of forward_auth URLs; nil means
	// the system's. Tests point it at their own DNS server.
	AuthResolver *net.Resolver `json:"-"`
}

// Proxy is quai's reverse proxy. Its methods are safe for concurrent use.
type Proxy struct {
	cfg            Config
	log            *slog.Logger
	trustForwarded bool
	dialer         net.Dialer
	ca             *localCA
	conns          *connLimiter

	table atomic.Pointer[table]

	// mu serializes changes of the routing table and the target registry;
	// requests never take it.
	mu      sync.Mutex
	routes  map[string][]Route
	certs   map[string]map[[2]string]*tls.Certificate
	targets map[string]*target
	// stats are the routes' request counters (stats.go), kept across
	// table swaps.
	stats map[statsKey]*routeStats
	// limiters are the routes' rate limiters (ratelimit.go), kept across
	// table swaps while a route's limit stays the same.
	limiters map[statsKey]*rateLimiter
	// unrouted counts requests no route matched.
	unrouted atomic.Uint64

	started     bool
	httpSrv     *http.Server
	httpsSrv    *http.Server
	httpLn      *limitListener
	httpsLn     *limitListener
	httpsSuffix string // ":port" for redirects, empty for 443
	fast        *fastServer
	// fastTLS serves HTTPS: it does the TLS handshake, serves HTTP/1.1
	// requests it can itself and hands HTTP/2 connections and the rest to
	// httpsSrv (fast.go).
	fastTLS *fastServer
	serveWG sync.WaitGroup

	// ACME (acme.go): magic manages exact hosts' certificates,
	// magicOnDemand obtains those of names under wildcard routes.
	magic         *certmagic.Config
	magicOnDemand *certmagic.Config
	acme          *certmagic.ACMEIssuer
	magicCache    *certmagic.Cache
	acmeCtx       context.Context
	acmeStop      context.CancelFunc
	acmeManaged   map[string]context.CancelFunc // by exact host; p.mu
	acmeWG        sync.WaitGroup                // obtain goroutines
	// onDemandSeen are names under wildcard routes allowed a certificate;
	// onDemandLimit bounds how fast new ones are (acme.go).
	onDemandMu    sync.Mutex
	onDemandSeen  map[string]bool
	onDemandLimit *rate.Limiter

	// certFailures holds the last ACME failure by host (certs.go).
	certMu       sync.Mutex
	certFailures map[string]string
	// failing counts certFailures' entries, so that redirects check them
	// only when there are some.
	failing atomic.Int32
	// acmeOnly restricts ACME to one challenge type ("http-01" or
	// "tls-alpn-01"): for tests of each.
	acmeOnly string
	// noFastH2 hands every HTTP/2 connection to net/http: for the tests
	// that compare the HTTP/2 fast path with it.
	noFastH2 bool
}

// New checks cfg and prepares a proxy; with HTTPS on it loads or creates
// the local CA, so RootCertPath names an existing file once New returns.
func New(cfg Config) (*Proxy, error) {
	p := &Proxy{
		cfg:            cfg,
		log:            cfg.Logger,
		trustForwarded: cfg.TrustForwardedHeaders,
		dialer:         net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second},
		routes:         make(map[string][]Route),
		certs:          make(map[string]map[[2]string]*tls.Certificate),
		targets:        make(map[string]*target),
		stats:          make(map[statsKey]*routeStats),
	}
	maxConns := cfg.MaxConns
	if maxConns <= 0 {
		maxConns = DefaultMaxConns(fileLimit())
	}
	perIP := cfg.MaxConnsPerIP
	if perIP == 0 && !cfg.TrustForwardedHeaders {
		perIP = DefaultMaxConnsPerIP
	}
	p.conns = newConnLimiter(maxConns, perIP, cmp.Or(cfg.PressureIdleTimeout, DefaultPressureIdleTimeout), cfg.Logger)
	empty, _ := buildTable(nil, "", nil)
	p.table.Store(empty)
	if cfg.HTTPSAddr != "" {
		if cfg.DataDir == "" {
			return nil, ErrNoDataDir
		}
		if _, err := ACMEDirectoryURL(cfg.ACMEDirectory); err != nil {
			return nil, err
		}
		ca, err := loadOrCreateCA(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		p.ca = ca
	}
	return p, nil
}

// RootCertPath is the local CA's root certificate, empty without HTTPS.
func (p *Proxy) RootCertPath() string {
	if p.ca == nil {
		return ""
	}
	return p.ca.certPath
}

// Start binds the listeners and serves in the background.
func (p *Proxy) Start() error {
	var lc net.ListenConfig
	var httpLn, httpsLn net.Listener
	if p.cfg.HTTPAddr != "" {
		ln, err := lc.Listen(context.Background(), "tcp", p.cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("proxy: listening for HTTP on %s: %w", p.cfg.HTTPAddr, err)
		}
		httpLn = ln
	}
	if p.cfg.HTTPSAddr != "" {
		ln, err := lc.Listen(context.Background(), "tcp", p.cfg.HTTPSAddr)
		if err != nil {
			if httpLn != nil {
				_ = httpLn.Close()
			}
			return fmt.Errorf("proxy: listening for HTTPS on %s: %w", p.cfg.HTTPSAddr, err)
		}
		httpsLn = ln
	}
	err := p.StartOn(httpLn, httpsLn)
	if err != nil {
		for _, ln := range []net.Listener{httpLn, httpsLn} {
			if ln != nil {
				_ = ln.Close()
			}
		}
	}
	return err
}

// StartOn serves on listeners bound elsewhere, such as those a previous
// proxy process handed over (handoff.go); a nil listener leaves that side
// off, whatever Config says. HTTPS still needs Config.HTTPSAddr set (any
// value) for New to prepare the local CA.
func (p *Proxy) StartOn(httpLn, httpsLn net.Listener) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return ErrStarted
	}
	if httpLn != nil {
		p.httpLn = &limitListener{Listener: httpLn, lim: p.conns}
	}
	if httpsLn != nil {
		if p.ca == nil {
			return ErrNoDataDir
		}
		p.httpsLn = &limitListener{Listener: httpsLn, lim: p.conns}
		httpsPort := httpsLn.Addr().(*net.TCPAddr).Port
		if httpsPort != 443 {
			p.httpsSuffix = ":" + strconv.Itoa(httpsPort)
		}
		httpPort := 0
		if p.httpLn != nil {
			httpPort = p.httpLn.Addr().(*net.TCPAddr).Port
		}
		p.newCertmagic(httpPort, httpsPort)
		p.manageACME(p.table.Load())
	}
	p.started = true
	if p.httpLn != nil {
		// The fast path owns the listener and hands net/http the
		// connections it does not serve itself.
		handoff := newHandoffListener(p.httpLn.Addr())
		p.httpSrv = p.newServer()
		p.fast = newFastServer(p, p.httpLn, handoff)
		p.serve(func() error { return p.httpSrv.Serve(handoff) })
		p.serve(func() error { p.fast.serve(); return nil })
	}
	if p.httpsLn != nil {
		tlsConf := &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: p.getCertificate,
			NextProtos:     []string{"h2", "http/1.1", acmeALPN},
		}
		// The fast path does the handshakes; net/http gets the handshaken
		// connections it serves (HTTP/2, and HTTP/1.1 requests the fast
		// path leaves to it), with TLSConfig naming h2 so that Serve sets
		// HTTP/2 up.
		handoff := newHandoffListener(p.httpsLn.Addr())
		p.httpsSrv = p.newServer()
		p.httpsSrv.TLSConfig = tlsConf
		p.httpsSrv.ConnContext = replayedTLS
		// HTTP/2 connections the HTTP/2 fast path hands over arrive as
		// replays of what it read (h2.go), which net/http serves as
		// "unencrypted" HTTP/2; the TLS state travels in the context.
		p.httpsSrv.Protocols = new(http.Protocols)
		p.httpsSrv.Protocols.SetHTTP1(true)
		p.httpsSrv.Protocols.SetHTTP2(true)
		p.httpsSrv.Protocols.SetUnencryptedHTTP2(true)
		p.fastTLS = newFastServer(p, p.httpsLn, handoff)
		p.fastTLS.tlsConf = tlsConf
		p.serve(func() error { return p.httpsSrv.Serve(handoff) })
		p.serve(func() error { p.fastTLS.serve(); return nil })
	}
	return nil
}

func (p *Proxy) newServer() *http.Server {
	errLog := log.New(discard{}, "", 0)
	if p.log != nil {
		// Handshake failures of scanners are noise: debug level.
		errLog = slog.NewLogLogger(p.log.Handler(), slog.LevelDebug)
	}
	return &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       idleConnTimeout,
		ErrorLog:          errLog,
		ConnState:         connState,
	}
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

func (p *Proxy) serve(f func() error) {
	p.serveWG.Add(1)
	go func() {
		defer p.serveWG.Done()
		if err := f(); err != nil && !errors.Is(err, http.ErrServerClosed) && p.log != nil {
			p.log.Error("proxy listener stopped", "err", err)
		}
	}()
}

// HTTPAddr is the bound HTTP address, empty when disabled or not started.
func (p *Proxy) HTTPAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.httpLn == nil {
		return ""
	}
	return p.httpLn.Addr().String()
}

// MaxConns is the bound on client connections in effect.
func (p *Proxy) MaxConns() int { return p.conns.max }

// HTTPSAddr is the bound HTTPS address, empty when disabled or not started.
func (p *Proxy) HTTPSAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.httpsLn == nil {
		return ""
	}
	return p.httpsLn.Addr().String()
}

// Shutdown stops accepting, lets in-flight requests and tunnels finish
// until ctx ends, then cuts what remains and returns ctx's error.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	srvs := []*http.Server{p.httpSrv, p.httpsSrv}
	fasts := []*fastServer{p.fast, p.fastTLS}
	p.mu.Unlock()
	var errs []error
	for _, fast := range fasts {
		if fast == nil {
			continue
		}
		if err := fast.shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range srvs {
		if s != nil {
			if err := s.Shutdown(ctx); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// Hijacked connections (WebSockets) are not the servers' to wait for.
	p.mu.Lock()
	all := make([]*target, 0, len(p.targets))
	for _, t := range p.targets {
		all = append(all, t)
	}
	p.mu.Unlock()
	if err := waitIdle(ctx, all); err != nil && len(errs) == 0 {
		errs = append(errs, err)
	}
	for _, t := range all {
		t.retire()
		t.cut()
	}
	p.serveWG.Wait()
	if p.magicCache != nil {
		p.acmeStop()
		p.acmeWG.Wait()
		p.magicCache.Stop()
	}
	return errors.Join(errs...)
}

// SetRoutes atomically replaces every route of instance. The whole new
// table is validated first; on error nothing changes.
func (p *Proxy) SetRoutes(instance string, routes []Route) error {
	if instance == "" {
		return fmt.Errorf("%w: the instance name is empty", ErrInvalidRoute)
	}
	norm := make([]Route, 0, len(routes))
	var errs []error
	for i, r := range routes {
		n, err := normalize(instance, i, r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		norm = append(norm, n)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	next := make(map[string][]Route, len(p.routes)+1)
	maps.Copy(next, p.routes)
	if len(norm) == 0 {
		delete(next, instance)
	} else {
		next[instance] = norm
	}
	newCerts := make(map[[2]string]*tls.Certificate)
	loadCert := func(inst, certFile, keyFile string) (*tls.Certificate, error) {
		key := [2]string{certFile, keyFile}
		if inst != instance {
			if c := p.certs[inst][key]; c != nil {
				return c, nil
			}
		}
		if c := newCerts[key]; c != nil {
			return c, nil
		}
		c, err := loadKeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		newCerts[key] = c
		return c, nil
	}
	t, err := buildTable(next, instance, loadCert)
	if err != nil {
		return err
	}
	p.routes = next
	if len(newCerts) > 0 {
		p.certs[instance] = newCerts
	} else {
		delete(p.certs, instance)
	}
	p.install(t)
	return nil
}

// RemoveInstance drops every route of instance; in-flight requests finish.
func (p *Proxy) RemoveInstance(instance string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.routes[instance]; !ok {
		return
	}
	next := make(map[string][]Route, len(p.routes))
	for k, v := range p.routes {
		if k != instance {
			next[k] = v
		}
	}
	loadCert := func(inst, certFile, keyFile string) (*tls.Certificate, error) {
		if c := p.certs[inst][[2]string{certFile, keyFile}]; c != nil {
			return c, nil
		}
		return loadKeyPair(certFile, keyFile)
	}
	t, err := buildTable(next, "", loadCert)
	if err != nil {
		// Removing routes cannot create a conflict; keep serving the old
		// table rather than half of a new one.
		if p.log != nil {
			p.log.Error("proxy: removing instance routes", "instance", instance, "err", err)
		}
		return
	}
	p.routes = next
	delete(p.certs, instance)
	p.install(t)
}

// install binds t's routes to targets, publishes it and retires targets
// no route names any more. p.mu is held.
func (p *Proxy) install(t *table) {
	used := make(map[string]bool)
	var stats map[statsKey]*routeStats
	if !p.cfg.NoStats {
		stats = make(map[statsKey]*routeStats, len(p.stats))
	}
	limiters := make(map[statsKey]*rateLimiter)
	for inst, rts := range t.instances {
		for _, rt := range rts {
			if rt.edge != nil && rt.Rules != nil && rt.Rules.RateLimit != nil {
				k := statsKey{inst, rt.Host, rt.Path}
				l := p.limiters[k]
				if l == nil || !l.same(rt.Rules.RateLimit) {
					l = newRateLimiter(rt.Rules.RateLimit)
				}
				limiters[k] = l
				rt.edge.limiter = l
			}
			if stats != nil {
				k := statsKey{inst, rt.Host, rt.Path}
				s := p.stats[k]
				if s == nil {
					s = &routeStats{}
				}
				stats[k] = s
				rt.stats = s
			}
			rt.targets = make([]*target, len(rt.Targets))
			for i, addr := range rt.Targets {
				tg := p.targets[addr]
				if tg == nil {
					tg = newTarget(addr)
					p.targets[addr] = tg
				} else if !used[addr] {
					tg.unretire()
				}
				used[addr] = true
				rt.targets[i] = tg
			}
		}
	}
	if stats != nil {
		p.stats = stats
	}
	p.limiters = limiters
	p.guardAuth(t)
	p.table.Store(t)
	p.manageACME(t)
	for addr, tg := range p.targets {
		if used[addr] {
			continue
		}
		tg.retire()
		if tg.inflight.Load() == 0 {
			delete(p.targets, addr)
		}
	}
}

// Drain waits until no request or tunnel is in flight to targets, or ctx
// ends; then it closes whatever remains and returns ctx's error.
func (p *Proxy) Drain(ctx context.Context, targets []string) error {
	p.mu.Lock()
	ts := make([]*target, 0, len(targets))
	for _, addr := range targets {
		if t := p.targets[addr]; t != nil {
			ts = append(ts, t)
		}
	}
	p.mu.Unlock()
	err := waitIdle(ctx, ts)
	if err != nil {
		for _, t := range ts {
			t.cut()
		}
	}
	p.mu.Lock()
	for _, t := range ts {
		if t.retiredNow() && t.inflight.Load() == 0 && p.targets[t.addr] == t {
			delete(p.targets, t.addr)
		}
	}
	p.mu.Unlock()
	return err
}

// waitIdle polls the in-flight counters; a drain lasts seconds, so a few
// milliseconds of latency cost nothing and spare the request path any
// signalling.
func waitIdle(ctx context.Context, ts []*target) error {
	wait := time.Millisecond
	for {
		busy := false
		for _, t := range ts {
			if t.inflight.Load() > 0 {
				busy = true
				break
			}
		}
		if !busy {
			return nil
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
		wait = min(wait*2, 50*time.Millisecond)
	}
}

// Snapshot returns a copy of the current routes per instance.
func (p *Proxy) Snapshot() map[string][]Route {
	return p.table.Load().snapshot()
}

// ServeHTTP routes one request. It is the handler of both listeners and
// can be mounted elsewhere; r.TLS tells it whether the client used HTTPS.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var start time.Time
	logging := p.log != nil && p.log.Enabled(r.Context(), slog.LevelInfo)
	if logging || !p.cfg.NoStats {
		start = time.Now()
	}
	if r.TLS == nil {
		// An HTTPS request the fast path handed over (fast.go).
		if cs, ok := r.Context().Value(tlsStateKey{}).(*tls.ConnectionState); ok {
			r.TLS = cs
		}
	}
	host := canonicalHost(r.Host)
	rt := p.table.Load().match(host, r.URL.Path)
	var res result
	upgrade := false
	switch {
	case r.TLS == nil && p.acme != nil && strings.HasPrefix(r.URL.Path, acmeChallengePath) && p.acme.HandleHTTPChallenge(w, r):
		res.status = http.StatusOK
		rt = nil
	case rt == nil:
		p.unrouted.Add(1)
		res.status = p.plainError(w, http.StatusNotFound, "quai: no route for host %q\n", host)
	case rt.edge != nil && rt.edge.redirectTo != "":
		res.status = p.redirectHost(w, r, rt.edge.redirectTo)
	case r.TLS == nil && p.httpsLn != nil && rt.TLS != TLSOff && !isLocalName(host) && net.ParseIP(host) == nil && !p.noCertificate(host):
		res.status = p.redirect(w, r, host)
	case rt.edge != nil && (r.TLS != nil || rt.edge.plain):
		res, upgrade = p.serveRules(w, r, rt, host)
	case isUpgrade(r):
		upgrade = true
		res = p.serveUpgrade(w, r, rt)
	default:
		res = p.forward(w, r, rt)
	}
	if rt != nil && rt.stats != nil {
		in := r.ContentLength
		if upgrade {
			// A tunnel's lifetime is not a request latency.
			rt.stats.observeStatus(res.status)
		} else {
			rt.stats.observe(res.status, time.Since(start), in, res.written)
		}
		rt.stats.attempts(res.retries, res.failed)
	}
	if logging {
		p.accessLog(r, host, res, start)
	}
	if res.truncated {
		// The header is out: only a broken connection tells the client
		// that the body is incomplete.
		panic(http.ErrAbortHandler)
	}
}

const acmeChallengePath = "/.well-known/acme-challenge/"

func (p *Proxy) redirect(w http.ResponseWriter, r *http.Request, host string) int {
	uri := r.RequestURI
	if uri == "" || uri[0] != '/' {
		uri = r.URL.RequestURI()
	}
	w.Header().Set("Location", "https://"+host+p.httpsSuffix+uri)
	w.WriteHeader(http.StatusPermanentRedirect)
	return http.StatusPermanentRedirect
}

func (p *Proxy) accessLog(r *http.Request, host string, res result, start time.Time) {
	upstream := ""
	if res.target != nil {
		upstream = res.target.addr
	}
	p.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("method", r.Method),
		slog.String("host", host),
		slog.String("path", r.URL.Path),
		slog.Int("status", res.status),
		slog.Int64("bytes", res.written),
		slog.Duration("dur", time.Since(start)),
		slog.String("upstream", upstream),
		slog.String("remote", clientIP(r.RemoteAddr)),
	)
}

// canonicalHost lowercases a Host header and strips its port and trailing
// dot, allocating only when the host has upper-case letters.
func canonicalHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}
