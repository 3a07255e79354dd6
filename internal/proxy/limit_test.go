package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// limitedProxy runs a proxy with the given connection limits and a route
// to backend b.
func limitedProxy(t *testing.T, maxConns, perIP int, pressureIdle time.Duration, b *httptest.Server) *Proxy {
	t.Helper()
	p := startProxyConfig(t, Config{HTTPAddr: "127.0.0.1:0", MaxConns: maxConns, MaxConnsPerIP: perIP, PressureIdleTimeout: pressureIdle})
	mustSet(t, p, "a", Route{Host: "a.localhost", Targets: []string{addr(b)}})
	return p
}

// clients are connections to the proxy; each notes when the proxy closes
// it.
type clients struct {
	t      *testing.T
	mu     sync.Mutex
	conns  []net.Conn
	closed chan int
}

func newClients(t *testing.T) *clients {
	cs := &clients{t: t, closed: make(chan int, 1024)}
	t.Cleanup(func() {
		cs.mu.Lock()
		defer cs.mu.Unlock()
		for _, c := range cs.conns {
			_ = c.Close()
		}
	})
	return cs
}

// dial opens n idle connections to the proxy from the loopback address
// from (127.0.0.x), and returns their indexes.
func (cs *clients) dial(proxyAddr, from string, n int) []int {
	cs.t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	var idx []int
	for range n {
		c, err := d.Dial("tcp", proxyAddr)
		if err != nil {
			cs.t.Fatalf("dial from %s: %v", from, err)
		}
		cs.mu.Lock()
		i := len(cs.conns)
		cs.conns = append(cs.conns, c)
		cs.mu.Unlock()
		idx = append(idx, i)
		go func() {
			var b [1]byte
			if _, err := c.Read(b[:]); errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || err != nil {
				cs.closed <- i
			}
		}()
	}
	return idx
}

// waitClosed waits until the proxy has closed n connections and returns
// their indexes; it fails the test when that takes longer than a minute.
func (cs *clients) waitClosed(n int) map[int]bool {
	cs.t.Helper()
	out := map[int]bool{}
	timeout := time.After(time.Minute)
	for len(out) < n {
		select {
		case i := <-cs.closed:
			out[i] = true
		case <-timeout:
			cs.t.Fatalf("the proxy closed %d connections, want %d", len(out), n)
		}
	}
	return out
}

// open counts the proxy's client connections, per address too.
func (l *connLimiter) open() (int, map[netip.Prefix]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	per := map[netip.Prefix]int{}
	for k, set := range l.keys {
		per[k] = len(set)
	}
	return l.n, per
}

// waitIdle waits until n connections wait idle for a request.
func (l *connLimiter) waitIdle(t *testing.T, n int) {
	t.Helper()
	for range 10000 {
		l.mu.Lock()
		idle := 0
		for _, set := range l.keys {
			for c := range set {
				if c.idle() {
					idle++
				}
			}
		}
		l.mu.Unlock()
		if idle >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("fewer than %d idle connections", n)
}

// TestIdleConnectionsAreBoundedInTotalAndPerAddress opens more idle
// connections than the proxy may hold, from several addresses: at a limit
// the proxy closes an idle connection to admit the new one, so the count
// never exceeds the limits, and new clients still get served.
func TestIdleConnectionsAreBoundedInTotalAndPerAddress(t *testing.T) {
	b := backend(t, "b")
	p := limitedProxy(t, 40, 10, time.Hour, b)
	cs := newClients(t)

	// Per address: the eleventh connection from 127.0.0.2 closes one of
	// its first ten.
	first := cs.dial(p.HTTPAddr(), "127.0.0.2", 10)
	p.conns.waitIdle(t, 10)
	cs.dial(p.HTTPAddr(), "127.0.0.2", 1)
	closed := cs.waitClosed(1)
	for i := range closed {
		if i > first[len(first)-1] {
			t.Errorf("the new connection %d was closed instead of an idle one", i)
		}
	}
	if _, per := p.conns.open(); per[netip.MustParsePrefix("127.0.0.2/32")] != 10 {
		t.Errorf("connections from 127.0.0.2 = %d, want 10", per[netip.MustParsePrefix("127.0.0.2/32")])
	}

	// In total: 3 more addresses of 10 fill the 40; 10 more from a fifth
	// address close 10 idle ones.
	for _, from := range []string{"127.0.0.3", "127.0.0.4", "127.0.0.5"} {
		cs.dial(p.HTTPAddr(), from, 10)
	}
	p.conns.waitIdle(t, 40)
	cs.dial(p.HTTPAddr(), "127.0.0.6", 10)
	cs.waitClosed(10)
	n, per := p.conns.open()
	if n != 40 {
		t.Errorf("open client connections = %d, want the limit, 40", n)
	}
	for k, v := range per {
		if v > 10 {
			t.Errorf("%d connections from %s, over the per-address limit of 10", v, k)
		}
	}

	// A new client is served: room is made for it.
	c := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.7")}}).DialContext}}
	defer c.CloseIdleConnections()
	if status, body, _ := get(t, c, p.HTTPAddr(), "a.localhost", "/"); status != 200 || body != "b" {
		t.Errorf("a new client at the limit got %d %q, want 200 from the backend", status, body)
	}
}

// TestBusyConnectionsAreNotClosedToMakeRoom: when every connection of an
// address is in the middle of a request, a new one from that address is
// refused, and the requests finish.
func TestBusyConnectionsAreNotClosedToMakeRoom(t *testing.T) {
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(3)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started.Done()
		<-release
		_, _ = io.WriteString(w, "done")
	}))
	t.Cleanup(slow.Close)
	p := limitedProxy(t, 40, 3, time.Hour, slow)
	results := make(chan string, 3)
	for range 3 {
		go func() {
			c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.8")}}).Dial("tcp", p.HTTPAddr())
			if err != nil {
				results <- err.Error()
				return
			}
			defer func() { _ = c.Close() }()
			_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.localhost\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				results <- err.Error()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			results <- string(body)
		}()
	}
	started.Wait()
	cs := newClients(t)
	cs.dial(p.HTTPAddr(), "127.0.0.8", 1)
	cs.waitClosed(1)
	close(release)
	for range 3 {
		if got := <-results; got != "done" {
			t.Errorf("a busy connection's request ended with %q, want the backend's answer", got)
		}
	}
}

// TestIdleTimeoutShortensUnderPressure: above 3/4 of the limit, idle
// keep-alive connections are closed after the short idle timeout until the
// count is back under half.
func TestIdleTimeoutShortensUnderPressure(t *testing.T) {
	b := backend(t, "b")
	p := limitedProxy(t, 40, 40, 20*time.Millisecond, b)
	cs := newClients(t)
	cs.dial(p.HTTPAddr(), "127.0.0.9", 20)
	p.conns.waitIdle(t, 20)
	if p.conns.underPressure.Load() {
		t.Fatal("under pressure at half the limit")
	}
	cs.dial(p.HTTPAddr(), "127.0.0.9", 10)
	cs.waitClosed(10)
	if n, _ := p.conns.open(); n > 20 {
		t.Errorf("open connections after the pressure = %d, want at most 20", n)
	}
	if p.conns.underPressure.Load() {
		t.Error("still under pressure under half the limit")
	}
}

func TestConnKey(t *testing.T) {
	for _, tt := range []struct {
		addr, want string
	}{
		{"192.0.2.7:1234", "192.0.2.7/32"},
		{"[::ffff:192.0.2.7]:1234", "192.0.2.7/32"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:80", "2001:db8:1:2::/64"},
	} {
		ap := netip.MustParseAddrPort(tt.addr)
		if got := connKey(net.TCPAddrFromAddrPort(ap)); got != netip.MustParsePrefix(tt.want) {
			t.Errorf("connKey(%s) = %s, want %s", tt.addr, got, tt.want)
		}
	}
	if a, b := connKey(net.TCPAddrFromAddrPort(netip.MustParseAddrPort("[2001:db8:0:1::1]:1"))), connKey(net.TCPAddrFromAddrPort(netip.MustParseAddrPort("[2001:db8:0:2::1]:1"))); a == b {
		t.Errorf("two /64s share a key: %s", a)
	}
}

func TestDefaultMaxConns(t *testing.T) {
	for _, tt := range []struct {
		limit uint64
		want  int
	}{
		{256, 64},
		{1024, 384},
		{1 << 20, 393216},
		{^uint64(0), 1572864},
		{64, minMaxConns},
	} {
		if got := DefaultMaxConns(tt.limit); got != tt.want {
			t.Errorf("DefaultMaxConns(%d) = %d, want %d", tt.limit, got, tt.want)
		}
	}
}
