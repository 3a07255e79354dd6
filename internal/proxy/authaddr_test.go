package proxy

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// countingServer is an httptest server that lets every request in and
// counts them.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.Close)
	return s, &n
}

// loopbackDNS answers every A query with 127.0.0.1 and every AAAA query
// with ::1: a name that resolves to loopback, as a rebinding attacker's
// DNS server would answer.
func loopbackDNS(t *testing.T) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, qq := range q.Question {
			switch qq.Qtype {
			case dns.TypeA:
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: net.IPv4(127, 0, 0, 1)})
			case dns.TypeAAAA:
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 1}, AAAA: net.IPv6loopback})
			}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

// TestForwardAuthRefusedAddresses: a route's authenticator URL cannot make
// the proxy call a service of the host (loopback, by address or by a name
// resolving there), the cloud metadata address, or another instance's
// replicas; the request is refused (502) without the address being called.
func TestForwardAuthRefusedAddresses(t *testing.T) {
	auth, calls := countingServer(t)
	_, port, _ := net.SplitHostPort(addr(auth))
	app := seenBackend(t)
	var log lockedBuffer
	p := startProxyConfig(t, Config{HTTPAddr: "127.0.0.1:0", AuthResolver: loopbackDNS(t),
		Logger: slog.New(slog.NewTextHandler(&log, nil))})
	cases := []struct{ name, url, why string }{
		{"127.0.0.1", "http://127.0.0.1:" + port + "/auth", "loopback"},
		{"::1", "http://[::1]:" + port + "/auth", "loopback"},
		{"cloud metadata", "http://169.254.169.254/latest/meta-data/", "link-local"},
		{"localhost", "http://localhost:" + port + "/auth", "loopback"},
		{"a name resolving to loopback", "http://auth.rebind.example:" + port + "/auth", "loopback"},
		{"the unspecified address", "http://0.0.0.0:" + port + "/auth", "unspecified"},
	}
	for _, a := range hostAddrs() {
		if !a.IsLoopback() && !a.IsLinkLocalUnicast() {
			// Refused before any connection: nothing needs to listen there.
			cases = append(cases, struct{ name, url, why string }{"this host's " + a.String(), "http://" + net.JoinHostPort(a.String(), port) + "/auth", "an address of this host"})
			break
		}
	}
	c := newClient()
	for i, tc := range cases {
		host := "fa" + string(rune('a'+i)) + ".localhost"
		mustSet(t, p, "i"+host, Route{Host: host, Targets: []string{addr(app)}, Rules: &Rules{ForwardAuth: &ForwardAuth{URL: tc.url}}})
		status, _, _ := get(t, c, p.HTTPAddr(), host, "/")
		expect(t, tc.name+": status", status, http.StatusBadGateway)
		if !strings.Contains(strings.Join(log.lines(), "\n"), ErrAuthAddress.Error()) || !strings.Contains(strings.Join(log.lines(), "\n"), tc.why) {
			t.Errorf("%s: the log does not say the address was refused as %s:\n%s", tc.name, tc.why, strings.Join(log.lines(), "\n"))
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the loopback authenticator was called %d times", n)
	}
}

// TestForwardAuthOtherInstance: with loopback allowed (as in tests), the
// replica of another instance is still refused, and an authenticator
// elsewhere is called.
func TestForwardAuthOtherInstance(t *testing.T) {
	victim, victimCalls := countingServer(t)
	auth, authCalls := countingServer(t)
	app := seenBackend(t)
	p := startProxyConfig(t, Config{HTTPAddr: "127.0.0.1:0", ForwardAuthLoopback: true})
	mustSet(t, p, "victim", Route{Host: "victim.localhost", Targets: []string{addr(victim)}})
	mustSet(t, p, "hostile", Route{Host: "hostile.localhost", Targets: []string{addr(app)}, Rules: &Rules{ForwardAuth: &ForwardAuth{URL: auth.URL + "/"}}},
		Route{Host: "hostile2.localhost", Targets: []string{addr(app)}, Rules: &Rules{ForwardAuth: &ForwardAuth{URL: victim.URL + "/admin"}}})
	c := newClient()
	status, _, _ := get(t, c, p.HTTPAddr(), "hostile2.localhost", "/")
	expect(t, "another instance's replica: status", status, http.StatusBadGateway)
	expect(t, "another instance's replica: calls", victimCalls.Load(), int64(0))
	status, _, _ = get(t, c, p.HTTPAddr(), "hostile.localhost", "/")
	expect(t, "an authenticator of no instance: status", status, http.StatusOK)
	expect(t, "an authenticator of no instance: calls", authCalls.Load(), int64(1))
	// The victim's own routes may use its replica as their authenticator.
	mustSet(t, p, "victim", Route{Host: "victim.localhost", Targets: []string{addr(victim)}},
		Route{Host: "victim-app.localhost", Targets: []string{addr(app)}, Rules: &Rules{ForwardAuth: &ForwardAuth{URL: victim.URL + "/"}}})
	status, _, _ = get(t, c, p.HTTPAddr(), "victim-app.localhost", "/")
	expect(t, "the instance's own replica: status", status, http.StatusOK)
}

// TestForwardAuthOwnService: a URL naming a service of the route's own
// stack reaches that service's replicas (Targets), loopback included,
// without the test-only setting; the name is never resolved.
func TestForwardAuthOwnService(t *testing.T) {
	auth, calls := countingServer(t)
	app := seenBackend(t)
	p := startProxyConfig(t, Config{HTTPAddr: "127.0.0.1:0"})
	mustSet(t, p, "own", Route{Host: "own.localhost", Targets: []string{addr(app)},
		Rules: &Rules{ForwardAuth: &ForwardAuth{URL: "http://oauth2-proxy:4180/oauth2/auth", Targets: []string{addr(auth)}}}})
	status, _, _ := get(t, newClient(), p.HTTPAddr(), "own.localhost", "/")
	expect(t, "status", status, http.StatusOK)
	expect(t, "authenticator calls", calls.Load(), int64(1))
	if err := p.SetRoutes("own", []Route{{Host: "own.localhost", Targets: []string{addr(app)},
		Rules: &Rules{ForwardAuth: &ForwardAuth{URL: "http://oauth2-proxy/", Targets: []string{"oauth2-proxy"}}}}}); err == nil {
		t.Error("a target without a port was accepted")
	}
}
