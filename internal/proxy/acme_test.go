package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mholt/acmez/v3/acme"

	"github.com/quai-dev/quai/internal/proxy/acmetest"
)

// pebbleProxy is a proxy whose ACME CA is a real Pebble on loopback that
// validates challenges on the proxy's own ports.
type pebbleProxy struct {
	*Proxy
	ca      *acmetest.CA
	dataDir string
}

func startPebbleProxy(t *testing.T, validity, renewCheck time.Duration, only string) *pebbleProxy {
	t.Helper()
	ports := acmetest.FreePorts(t, 2)
	ca := acmetest.Start(t, acmetest.Options{HTTPPort: ports[0], TLSPort: ports[1], Validity: validity})
	dir := t.TempDir()
	p, err := New(Config{
		HTTPAddr:       "127.0.0.1:" + strconv.Itoa(ports[0]),
		HTTPSAddr:      "127.0.0.1:" + strconv.Itoa(ports[1]),
		DataDir:        dir,
		ACMEDirectory:  ca.Directory,
		ACMERoots:      ca.ServerRoots,
		ACMEEmail:      "ops@quai.test",
		ACMERenewCheck: renewCheck,
	})
	if err != nil {
		t.Fatal(err)
	}
	p.acmeOnly = only
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
		if t.Failed() {
			t.Logf("pebble:\n%s", ca.Log())
		}
	})
	return &pebbleProxy{Proxy: p, ca: ca, dataDir: dir}
}

// handshake connects to the proxy's HTTPS listener for name, trusting only
// Pebble's root, and returns the leaf it served.
func (pp *pebbleProxy) handshake(name string) (*x509.Certificate, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second},
		Config: &tls.Config{ServerName: name, RootCAs: pp.ca.Roots, MinVersion: tls.VersionTLS12}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", pp.HTTPSAddr())
	if err != nil {
		return nil, err
	}
	defer func() { _ = c.Close() }()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
}

// getHTTPS fetches https://name/path through the proxy with a client that
// trusts only Pebble's root.
func (pp *pebbleProxy) getHTTPS(t *testing.T, name, path string) (int, string, string) {
	t.Helper()
	addr := pp.HTTPSAddr()
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pp.ca.Roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	resp, err := c.Get("https://" + name + path)
	if err != nil {
		t.Fatalf("GET https://%s%s: %v", name, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Proto
}

// waitCert waits until the proxy serves name a certificate Pebble issued.
func (pp *pebbleProxy) waitCert(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		leaf, err := pp.handshake(name)
		if err == nil {
			return leaf
		}
		if time.Now().After(deadline) {
			t.Fatalf("no certificate for %s within 60s: %v; certificates: %+v", name, err, pp.Certificates())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestACMEIssuesAndServes(t *testing.T) {
	for _, chal := range []string{acme.ChallengeTypeHTTP01, acme.ChallengeTypeTLSALPN01} {
		t.Run(chal, func(t *testing.T) {
			pp := startPebbleProxy(t, 0, 0, chal)
			be := backend(t, "shop")
			host := "shop.quai.test"
			mustSet(t, pp.Proxy, "shop", Route{Host: host, Targets: []string{addr(be)}})
			// Nobody connected yet: the certificate is obtained ahead.
			leaf := pp.waitCert(t, host)
			if err := leaf.VerifyHostname(host); err != nil {
				t.Fatal(err)
			}
			status, body, proto := pp.getHTTPS(t, host, "/")
			expect(t, "status over HTTPS", status, http.StatusOK)
			expect(t, "body over HTTPS", body, "shop")
			expect(t, "protocol", proto, "HTTP/2.0")
			// Plain HTTP now redirects to HTTPS.
			status, _, h := get(t, newClient(), pp.HTTPAddr(), host, "/x")
			expect(t, "plain HTTP status", status, http.StatusPermanentRedirect)
			expect(t, "redirect", h.Get("Location"), "https://"+host+":"+portOf(pp.HTTPSAddr())+"/x")
			// Stored under the data directory.
			found, _ := filepath.Glob(filepath.Join(pp.dataDir, "acme", "certificates", "*", host, host+".crt"))
			if len(found) != 1 {
				t.Errorf("the certificate is not stored under %s: %v", pp.dataDir, found)
			}
			cs := pp.Certificates()
			if len(cs) != 1 || cs[0].Host != host || cs[0].Source != "acme" || !cs[0].NotAfter.Equal(leaf.NotAfter) || cs[0].RenewError != "" {
				t.Errorf("Certificates() = %+v, want %s from acme expiring %s", cs, host, leaf.NotAfter)
			}
		})
	}
}

func TestACMERenewsAheadOfExpiry(t *testing.T) {
	// 30-second certificates checked every second: renewal comes in
	// seconds, through the background maintenance, without a restart.
	pp := startPebbleProxy(t, 30*time.Second, time.Second, "")
	be := backend(t, "blog")
	host := "blog.quai.test"
	mustSet(t, pp.Proxy, "blog", Route{Host: host, Targets: []string{addr(be)}})
	first := pp.waitCert(t, host)
	deadline := time.Now().Add(90 * time.Second)
	for {
		leaf, err := pp.handshake(host)
		if err == nil && leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
			if !leaf.NotAfter.After(first.NotAfter) {
				t.Errorf("the renewed certificate expires %s, not after the first's %s", leaf.NotAfter, first.NotAfter)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the certificate (serial %x, expiring %s) was not renewed: last handshake %v", first.SerialNumber, first.NotAfter, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	status, body, _ := pp.getHTTPS(t, host, "/")
	expect(t, "status after renewal", status, http.StatusOK)
	expect(t, "body after renewal", body, "blog")
}

func TestACMEFailedChallengeIsExplainedAndServedOverHTTP(t *testing.T) {
	pp := startPebbleProxy(t, 0, 0, "")
	host := "elsewhere.quai.test"
	// The name resolves, for the CA, to an address where quai does not
	// listen: the DNS points elsewhere.
	pp.ca.SetA(t, host, "127.0.0.2")
	be := backend(t, "app")
	mustSet(t, pp.Proxy, "app", Route{Host: host, Targets: []string{addr(be)}})
	var cs []CertStatus
	deadline := time.Now().Add(60 * time.Second)
	for {
		cs = pp.Certificates()
		if len(cs) == 1 && cs[0].RenewError != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failure reported within 60s: %+v", cs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	msg := cs[0].RenewError
	for _, want := range []string{"could not reach " + host, "DNS points at this server", "ports 80 and 443"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the failure %q does not say %q", msg, want)
		}
	}
	if _, err := pp.handshake(host); err == nil {
		t.Error("a handshake for a host without certificate succeeded")
	}
	// Served over plain HTTP rather than redirected to an HTTPS that
	// cannot work.
	status, body, _ := get(t, newClient(), pp.HTTPAddr(), host, "/")
	expect(t, "plain HTTP status", status, http.StatusOK)
	expect(t, "plain HTTP body", body, "app")
}

func TestACMEOnDemandForWildcardRoutesOnly(t *testing.T) {
	pp := startPebbleProxy(t, 0, 0, "")
	be := backend(t, "tenant")
	mustSet(t, pp.Proxy, "saas", Route{Host: "*.apps.quai.test", Targets: []string{addr(be)}})
	// The first handshake of a name under the wildcard obtains its
	// certificate.
	leaf, err := pp.handshake("one.apps.quai.test")
	if err != nil {
		t.Fatalf("on-demand handshake: %v; pebble:\n%s", err, pp.ca.Log())
	}
	if err := leaf.VerifyHostname("one.apps.quai.test"); err != nil {
		t.Fatal(err)
	}
	status, body, _ := pp.getHTTPS(t, "one.apps.quai.test", "/")
	expect(t, "status", status, http.StatusOK)
	expect(t, "body", body, "tenant")
	// Names quai does not route get nothing, and the CA is not asked.
	for _, name := range []string{"apps.quai.test", "a.b.apps.quai.test", "other.quai.test"} {
		if _, err := pp.handshake(name); err == nil {
			t.Errorf("a handshake for unrouted %s got a certificate", name)
		}
		if found, _ := filepath.Glob(filepath.Join(pp.dataDir, "acme", "certificates", "*", name)); len(found) > 0 {
			t.Errorf("a certificate for unrouted %s was obtained: %v", name, found)
		}
	}
	if strings.Contains(pp.ca.Log(), "other.quai.test") {
		t.Error("the CA was asked about other.quai.test")
	}
}

func TestACMEDirectoryURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                              "https://acme-v02.api.letsencrypt.org/directory",
		"production":                    "https://acme-v02.api.letsencrypt.org/directory",
		"staging":                       "https://acme-staging-v02.api.letsencrypt.org/directory",
		"https://ca.internal:14000/dir": "https://ca.internal:14000/dir",
		"http://ca.internal/dir":        "",
		"letsencrypt":                   "",
		"https:///no-host":              "",
	} {
		got, err := ACMEDirectoryURL(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("ACMEDirectoryURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := New(Config{HTTPSAddr: "127.0.0.1:0", DataDir: t.TempDir(), ACMEDirectory: "stagign"}); err == nil {
		t.Error("New accepted a misspelt ACME CA")
	}
}

func TestExplainACMEError(t *testing.T) {
	prob := func(typ, detail string) error {
		return acme.Problem{Type: acme.ProblemTypeNamespace + "unauthorized", Detail: "authz failed",
			Subproblems: []acme.Subproblem{{Problem: acme.Problem{Type: typ, Detail: detail}}}}
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{acme.Problem{Type: acme.ProblemTypeRateLimited, Detail: "too many certificates"}, "rate-limited"},
		{prob(acme.ProblemTypeDNS, "NXDOMAIN"), "create a DNS A"},
		{prob(acme.ProblemTypeConnection, "connection refused"), "ports 80 and 443 are open"},
		{acme.Problem{Type: acme.ProblemTypeUnauthorized, Detail: "Failed to connect to 127.0.0.2:80 for the http-01 challenge"}, "ports 80 and 443 are open"},
		{acme.Problem{Type: acme.ProblemTypeUnauthorized, Detail: "DNS problem: NXDOMAIN looking up A for x"}, "create a DNS A"},
		{prob(acme.ProblemTypeIncorrectResponse, "wrong token"), "DNS points at another server"},
		{prob(acme.ProblemTypeCAA, "CAA forbids"), "CAA records"},
		{&os.PathError{Op: "open", Path: "x", Err: os.ErrNotExist}, "obtaining a certificate for a.example failed"},
		// The CA's directory refused the connection: not a challenge problem.
		{fmt.Errorf("registering account: provisioning client: performing request: %w",
			&url.Error{Op: "Get", URL: "https://127.0.0.1:1/directory", Err: errors.New("dial tcp 127.0.0.1:1: connect: connection refused")}), "cannot talk to the ACME CA"},
		{errors.New("registering account [] with server: provisioning client: performing request: connection refused"), "cannot talk to the ACME CA"},
	} {
		if got := explainACMEError("a.example", c.err); !strings.Contains(got, c.want) {
			t.Errorf("explainACMEError(%v) = %q, want it to say %q", c.err, got, c.want)
		}
	}
}

func portOf(hostport string) string {
	_, port, _ := net.SplitHostPort(hostport)
	return port
}
