package proxy

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Client connections are bounded, in total and per client address, so
// that idle connections cannot take every file descriptor of the daemon
// (its API socket, store and runtimes live in the same process). Under
// pressure (above 3/4 of the total, until under half) idle keep-alive
// connections are closed after a short idle time; at a limit an idle
// connection is closed to make room, and only when none is idle is the new
// one refused. As nginx does, the request path pays nothing for it: a
// connection's idle/busy state is one atomic word it already flipped per
// request, and the limiter's janitor, not the request path, reads it.

const (
	// DefaultMaxConnsPerIP bounds the client connections from one address
	// (an IPv6 /64 counts as one address): browsers open six per host, a
	// NAT of a few dozen users some hundreds.
	DefaultMaxConnsPerIP = 256
	// DefaultPressureIdleTimeout is how long an idle keep-alive connection
	// is kept while the proxy is under pressure.
	DefaultPressureIdleTimeout = 5 * time.Second
	// minMaxConns keeps a tiny file limit from leaving the proxy nothing.
	minMaxConns = 16
	// evictScan bounds how many connections are looked at for an idle one
	// when a limit is reached, so that a full table of busy connections
	// costs a refused accept little.
	evictScan = 64
	// refusalLogEvery spaces the warnings about refused connections.
	refusalLogEvery = 10 * time.Second
)

// DefaultMaxConns derives the total client connection budget from the
// process's file descriptor limit: a quarter of it (at least 128) stays for
// the API, the store, the runtimes and the TLS and ACME machinery, and
// each client connection may hold an upstream connection too.
func DefaultMaxConns(fdLimit uint64) int {
	const ceiling = 1 << 22 // an unlimited limit is not a budget
	limit := int(min(fdLimit, ceiling))
	reserve := max(limit/4, 128)
	return max((limit-reserve)/2, minMaxConns)
}

// connKey is the address a per-client limit counts on: the IPv4 address,
// or the /64 of an IPv6 one (what one subscriber usually gets).
func connKey(a net.Addr) netip.Prefix {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Prefix{}
	}
	ip := ta.AddrPort().Addr().Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// clientConn is a client connection counted by a connLimiter.
type clientConn struct {
	net.Conn
	lim *connLimiter
	key netip.Prefix
	// state is even while the connection waits idle for a request and odd
	// while it is busy (or new, or handed to its reaper). It is bumped at
	// every change, so the janitor can tell a connection idle across two
	// of its ticks from one that served requests in between; leaving idle
	// is a compare-and-swap, so the owner and a reaper never both win.
	state atomic.Uint32
	// seen is the state at the janitor's last tick; guarded by lim.mu.
	seen     uint32
	released atomic.Bool
}

// setIdle marks the connection idle and returns the state to pass to
// setBusy.
func (c *clientConn) setIdle() uint32 { return c.state.Add(1) }

// setBusy marks an idle connection busy; false means it was reaped
// meanwhile and is closing.
func (c *clientConn) setBusy(idle uint32) bool { return c.state.CompareAndSwap(idle, idle+1) }

func (c *clientConn) idle() bool { return c.state.Load()&1 == 0 }

// reap claims an idle connection for closing; false when it is busy.
func (c *clientConn) reap() bool {
	v := c.state.Load()
	return v&1 == 0 && c.state.CompareAndSwap(v, v+1)
}

// Close closes the connection and gives its place back.
func (c *clientConn) Close() error {
	err := c.Conn.Close()
	if c.released.CompareAndSwap(false, true) {
		c.lim.release(c)
	}
	return err
}

// connLimiter counts client connections; its methods are safe for
// concurrent use.
type connLimiter struct {
	max, perKey   int
	high, low     int
	shortIdle     time.Duration
	log           *slog.Logger
	underPressure atomic.Bool

	mu          sync.Mutex
	n           int
	keys        map[netip.Prefix]map[*clientConn]struct{}
	janitor     bool
	lastRefusal time.Time
	refused     int
}

func newConnLimiter(maxConns, perKey int, shortIdle time.Duration, log *slog.Logger) *connLimiter {
	return &connLimiter{
		max: maxConns, perKey: perKey, high: max(maxConns*3/4, 1), low: maxConns / 2,
		shortIdle: shortIdle, log: log,
		keys: make(map[netip.Prefix]map[*clientConn]struct{}),
	}
}

// admit counts c in, making room by closing an idle connection when a
// limit is reached; nil means c was refused and closed.
func (l *connLimiter) admit(c net.Conn) *clientConn {
	key := connKey(c.RemoteAddr())
	l.mu.Lock()
	var victim *clientConn
	full := ""
	scan := evictScan
	switch set := l.keys[key]; {
	case l.perKey > 0 && len(set) >= l.perKey:
		victim, full = l.evictLocked(set, &scan), "per-address"
	case l.n >= l.max:
		for _, set := range l.keys {
			if victim = l.evictLocked(set, &scan); victim != nil || scan == 0 {
				break
			}
		}
		full = "total"
	}
	if full != "" && victim == nil {
		l.refusedLocked(full, key)
		l.mu.Unlock()
		_ = c.Close()
		return nil
	}
	cc := &clientConn{Conn: c, lim: l, key: key}
	cc.state.Store(1) // busy until its server waits for a request
	set := l.keys[key]
	if set == nil {
		set = make(map[*clientConn]struct{})
		l.keys[key] = set
	}
	set[cc] = struct{}{}
	l.n++
	if l.n >= l.high && !l.underPressure.Load() {
		l.underPressure.Store(true)
		if l.log != nil {
			l.log.Warn("proxy: many client connections: idle keep-alive connections now close after a short idle time",
				"connections", l.n, "max", l.max, "idle_timeout", l.shortIdle)
		}
		if !l.janitor {
			l.janitor = true
			go l.sweep()
		}
	}
	l.mu.Unlock()
	if victim != nil {
		_ = victim.Conn.Close()
	}
	return cc
}

// evictLocked reaps an idle connection of set and takes it out of the
// count (its owner's Close then only closes); nil when none of the next
// *scan connections is idle. l.mu is held.
func (l *connLimiter) evictLocked(set map[*clientConn]struct{}, scan *int) *clientConn {
	for c := range set {
		if *scan == 0 {
			return nil
		}
		*scan--
		if c.reap() && c.released.CompareAndSwap(false, true) {
			l.forgetLocked(c)
			return c
		}
	}
	return nil
}

func (l *connLimiter) refusedLocked(which string, key netip.Prefix) {
	l.refused++
	if l.log == nil || time.Since(l.lastRefusal) < refusalLogEvery {
		return
	}
	l.lastRefusal = time.Now()
	l.log.Warn("proxy: client connections refused: "+which+" limit reached and none idle",
		"client", key.String(), "connections", l.n, "max", l.max, "max_per_address", l.perKey, "refused", l.refused)
	l.refused = 0
}

func (l *connLimiter) release(c *clientConn) {
	l.mu.Lock()
	l.forgetLocked(c)
	l.mu.Unlock()
}

func (l *connLimiter) forgetLocked(c *clientConn) {
	set := l.keys[c.key]
	if _, ok := set[c]; !ok {
		return
	}
	delete(set, c)
	if len(set) == 0 {
		delete(l.keys, c.key)
	}
	l.n--
	if l.n <= l.low && l.underPressure.Load() {
		l.underPressure.Store(false)
		if l.log != nil {
			l.log.Info("proxy: client connections back to normal", "connections", l.n, "max", l.max)
		}
	}
}

// sweep runs while the proxy is under pressure: every half short idle
// time it closes the connections that were idle at its last tick and
// still are, without a request in between, until the pressure is off.
func (l *connLimiter) sweep() {
	tick := time.NewTicker(max(l.shortIdle/2, time.Millisecond))
	defer tick.Stop()
	var reaped []*clientConn
	for range tick.C {
		l.mu.Lock()
		if !l.underPressure.Load() {
			l.janitor = false
			l.mu.Unlock()
			return
		}
		for _, set := range l.keys {
			for c := range set {
				if !l.underPressure.Load() {
					break // relieved: idle connections keep the long timeout
				}
				v := c.state.Load()
				if v&1 == 0 && v == c.seen && c.reap() && c.released.CompareAndSwap(false, true) {
					l.forgetLocked(c)
					reaped = append(reaped, c)
					continue
				}
				c.seen = v
			}
		}
		l.mu.Unlock()
		for _, c := range reaped {
			_ = c.Conn.Close()
		}
		reaped = reaped[:0]
	}
}

// connState follows net/http's connections (the HTTPS listener's and the
// ones the fast path hands over) from idle to busy and back.
func connState(c net.Conn, s http.ConnState) {
	cc := clientConnOf(c)
	if cc == nil {
		return
	}
	switch s {
	case http.StateIdle:
		if !cc.idle() {
			cc.setIdle()
		}
	case http.StateActive:
		if v := cc.state.Load(); v&1 == 0 {
			cc.setBusy(v)
		}
	}
}

func clientConnOf(c net.Conn) *clientConn {
	switch v := c.(type) {
	case *clientConn:
		return v
	case *replayConn:
		return clientConnOf(v.Conn)
	case *tls.Conn:
		cc, _ := v.NetConn().(*clientConn)
		return cc
	}
	return nil
}

// limitListener counts the connections it accepts on a connLimiter.
type limitListener struct {
	net.Listener
	lim *connLimiter
}

// Accept returns the next admitted connection; refused ones are closed
// without a word, as a full server's kernel backlog would.
func (l *limitListener) Accept() (net.Conn, error) {
	cc, err := l.accept()
	if err != nil {
		return nil, err
	}
	return cc, nil
}

func (l *limitListener) accept() (*clientConn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if cc := l.lim.admit(c); cc != nil {
			return cc, nil
		}
	}
}
