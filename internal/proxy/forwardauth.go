package proxy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/quai-dev/quai/internal/access"
)

// maxAuthBody bounds the body of an authenticator's refusal that is passed
// to the client (a login page, a JSON error): more is cut off.
const maxAuthBody = 64 << 10

// ErrAuthAddress is the dial error of a forward-auth request to an address
// the proxy refuses to call (authaddr.go).
var ErrAuthAddress = errors.New("the proxy does not call this address for forward auth")

// forwardAuth is a route's compiled ForwardAuth, with its own client so
// that a slow authenticator cannot hold the proxy's upstream pools.
type forwardAuth struct {
	url     string
	copy    []string // canonical header names
	timeout time.Duration
	client  *http.Client
	// targets are the replicas of the stack's own service the URL names
	// (ForwardAuth.Targets): dialed in turn instead of the URL's host, and
	// let through the address check.
	targets []string
	own     map[netip.AddrPort]bool
	next    atomic.Uint64
	// guard decides which other addresses may be called; set by install
	// before the table is published.
	guard  *authGuard
	dialer *net.Dialer
}

func newForwardAuth(fa *ForwardAuth) *forwardAuth {
	f := &forwardAuth{url: fa.URL, timeout: cmp.Or(fa.Timeout, defaultForwardAuthWait), targets: fa.Targets}
	for _, h := range fa.CopyHeaders {
		f.copy = append(f.copy, http.CanonicalHeaderKey(h))
	}
	if len(f.targets) > 0 {
		f.own = make(map[netip.AddrPort]bool, len(f.targets))
		for _, t := range f.targets {
			if ap, err := netip.ParseAddrPort(t); err == nil {
				f.own[unmapPort(ap)] = true
			}
		}
	}
	// The check runs on the address actually dialed, after name
	// resolution: a name that resolves to a refused address (DNS
	// rebinding included) is refused the same.
	d := &net.Dialer{Timeout: f.timeout, Control: f.control}
	f.dialer = d
	dial := d.DialContext
	if len(f.targets) > 0 {
		dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, f.targets[f.next.Add(1)%uint64(len(f.targets))])
		}
	}
	f.client = &http.Client{
		Transport: &http.Transport{
			DialContext:           dial,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: f.timeout,
			TLSHandshakeTimeout:   f.timeout,
		},
		// A redirect to a login page is the authenticator's answer for the
		// client, not something to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       f.timeout,
	}
	return f
}

// check asks the authenticator about r. When it lets r through, the copy
// headers are set on r from its answer (and removed when it sends none, so
// a client cannot forge them) and done is false. Otherwise its answer, or
// 502 when it failed, has been written to w and done is true.
func (f *forwardAuth) check(w http.ResponseWriter, r *http.Request, client netip.Addr, log *slog.Logger) (status int, done bool) {
	ctx, cancel := context.WithTimeout(r.Context(), f.timeout)
	defer cancel()
	// The URL is the route's own setting (the stack's author's), not the
	// client's: no request data picks where the proxy connects.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil) //nolint:gosec // G704, see above
	if err != nil {
		return f.fail(w, r, log, err), true
	}
	for k, vv := range r.Header {
		if hopHeader(k) || k == "Content-Length" || k == "Expect" {
			continue
		}
		req.Header[k] = vv
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	req.Header.Set("X-Forwarded-Method", r.Method)
	req.Header.Set("X-Forwarded-Proto", proto)
	req.Header.Set("X-Forwarded-Host", r.Host)
	req.Header.Set("X-Forwarded-Uri", uri)
	if client.IsValid() {
		req.Header.Set("X-Forwarded-For", client.String())
	}
	resp, err := f.client.Do(req) //nolint:gosec // G704: the route's URL, as above
	if err != nil {
		return f.fail(w, r, log, err), true
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAuthBody))
		for _, k := range f.copy {
			if vv := resp.Header[k]; len(vv) > 0 {
				r.Header[k] = vv
			} else {
				delete(r.Header, k)
			}
		}
		return 0, false
	}
	h := w.Header()
	for k, vv := range resp.Header {
		if hopHeader(k) || k == "Content-Length" {
			continue
		}
		h[k] = vv
	}
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, maxAuthBody))
	return resp.StatusCode, true
}

// fail refuses the request: an authenticator that cannot answer lets
// nobody in.
func (f *forwardAuth) fail(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) int {
	if log != nil {
		log.LogAttrs(r.Context(), slog.LevelWarn, "forward auth failed", slog.String("url", f.url), slog.String("err", err.Error()))
	}
	status := http.StatusBadGateway
	if errors.Is(err, context.DeadlineExceeded) {
		status = http.StatusGatewayTimeout
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, "quai: the authenticator of this route did not answer\n")
	return status
}

// control is the dialer's check of the resolved address.
func (f *forwardAuth) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s is not an IP address and port", ErrAuthAddress, address)
	}
	ap = unmapPort(ap)
	if f.own[ap] {
		return nil
	}
	if why := f.guard.refuse(ap); why != "" {
		return fmt.Errorf("%w: %s is %s", ErrAuthAddress, address, why)
	}
	return nil
}

func unmapPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// authGuard knows the replica addresses of every instance, to refuse those
// of other instances to a route's authenticator.
type authGuard struct {
	instance string
	// allowLoopback is Config.ForwardAuthLoopback.
	allowLoopback bool
	replicas      map[netip.AddrPort]string // address → instance
	// local lists the host's own addresses; nil in tests.
	local func() []netip.Addr
}

// refuse says why ap may not be called, or "" when it may.
func (g *authGuard) refuse(ap netip.AddrPort) string {
	if g == nil {
		return "not checked yet"
	}
	a := ap.Addr()
	if why := access.LocalAddress(a, g.allowLoopback); why != "" {
		return why
	}
	if inst, ok := g.replicas[ap]; ok && inst != g.instance {
		return "a replica of another instance"
	}
	if g.local != nil && !a.IsLoopback() {
		for _, l := range g.local() {
			if l == a {
				return "an address of this host"
			}
		}
	}
	return ""
}

// hostAddrs lists the addresses of the host's interfaces.
func hostAddrs() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

// replicaAddrs maps every literal target address of t (routes and the
// authenticators' own targets) to its instance.
func replicaAddrs(t *table) map[netip.AddrPort]string {
	m := make(map[netip.AddrPort]string)
	add := func(inst, s string) {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			m[unmapPort(ap)] = inst
		}
	}
	for inst, rts := range t.instances {
		for _, rt := range rts {
			for _, s := range rt.Targets {
				add(inst, s)
			}
			if rt.Rules != nil && rt.Rules.ForwardAuth != nil {
				for _, s := range rt.Rules.ForwardAuth.Targets {
					add(inst, s)
				}
			}
		}
	}
	return m
}

// guardAuth gives the authenticators of t their address check.
func (p *Proxy) guardAuth(t *table) {
	var replicas map[netip.AddrPort]string
	for inst, rts := range t.instances {
		for _, rt := range rts {
			if rt.edge == nil || rt.edge.fwd == nil {
				continue
			}
			if replicas == nil {
				replicas = replicaAddrs(t)
			}
			g := &authGuard{instance: inst, allowLoopback: p.cfg.ForwardAuthLoopback, replicas: replicas}
			if !p.cfg.ForwardAuthLoopback {
				g.local = hostAddrs
			}
			rt.edge.fwd.guard = g
			rt.edge.fwd.dialer.Resolver = p.cfg.AuthResolver
		}
	}
}

// checkAuthTargets checks ForwardAuth.Targets.
func checkAuthTargets(targets []string) string {
	for _, t := range targets {
		host, port, err := net.SplitHostPort(t)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("target %q is not host:port", t)
		}
	}
	return ""
}
