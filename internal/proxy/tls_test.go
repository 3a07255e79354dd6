package proxy

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// httpsClient trusts roots and sends every request to the proxy's HTTPS
// listener whatever the URL's host, so SNI and Host carry the name.
func httpsClient(p *Proxy, roots *x509.CertPool) *http.Client {
	d := net.Dialer{}
	return &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			ForceAttemptHTTP2: true,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, p.HTTPSAddr())
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func loadRoots(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	pemBytes, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("no certificate in %s", path)
	}
	return roots
}

func TestLocalCA(t *testing.T) {
	dir := t.TempDir()
	p := startProxy(t, dir)
	expect(t, "root path", p.RootCertPath(), RootCertPath(dir))
	b := backend(t, "app")
	mustSet(t, p, "app", Route{Host: "app.localhost", Targets: []string{addr(b)}}, Route{Host: "*.preview.localhost", Targets: []string{addr(b)}})
	c := httpsClient(p, loadRoots(t, p.RootCertPath()))
	for _, host := range []string{"app.localhost", "pr-12.preview.localhost"} {
		resp, err := c.Get("https://" + host + "/")
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		expect(t, host+" body", string(body), "app")
		expect(t, host+" protocol", resp.Proto, "HTTP/2.0")
		expect(t, host+" certificate name", resp.TLS.PeerCertificates[0].DNSNames, []string{host})
	}
	// .localhost is served over plain HTTP too, without a redirect.
	status, body, _ := get(t, newClient(), p.HTTPAddr(), "app.localhost", "/")
	expect(t, "plain HTTP status", status, 200)
	expect(t, "plain HTTP body", body, "app")

	// Unrouted names get no certificate.
	if resp, err := c.Get("https://nope.localhost/"); err == nil {
		_ = resp.Body.Close()
		t.Error("handshake for an unrouted name succeeded")
	}

	// The CA is made once: a second proxy on the same directory reuses it.
	before, err := os.ReadFile(p.RootCertPath())
	if err != nil {
		t.Fatal(err)
	}
	p2, err := New(Config{HTTPSAddr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(p2.RootCertPath())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("the local CA was created again")
	}
	key, err := os.Stat(filepath.Join(dir, caDirName, caKeyName))
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "CA key permissions", key.Mode().Perm(), os.FileMode(0o600))
}

func TestLocalCARootIsNameConstrained(t *testing.T) {
	ca, err := loadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "permitted domains", ca.cert.PermittedDNSDomains, []string{"localhost"})
	// Even if someone used the key to sign a real domain, verifiers that
	// trust this root reject it.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), DNSNames: []string{"bank.example.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "bank.example.com"}); err == nil {
		t.Fatal("the local CA can vouch for a real domain")
	}
}

// selfSigned writes a certificate and key for name and returns their paths.
func selfSigned(t testing.TB, name string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "site.pem"), filepath.Join(dir, "site.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

func TestCustomCertificateAndRedirect(t *testing.T) {
	p := startProxy(t, t.TempDir())
	b := backend(t, "site")
	certFile, keyFile, cert := selfSigned(t, "custom.example.com")
	mustSet(t, p, "site",
		Route{Host: "custom.example.com", Targets: []string{addr(b)}, TLS: TLSCustom, CertFile: certFile, KeyFile: keyFile},
		Route{Host: "plain.example.com", Targets: []string{addr(b)}, TLS: TLSOff},
		Route{Host: "auto.example.com", Targets: []string{addr(b)}},
	)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	c := httpsClient(p, roots)
	resp, err := c.Get("https://custom.example.com/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	expect(t, "custom body", string(body), "site")
	expect(t, "served certificate", resp.TLS.PeerCertificates[0].Equal(cert), true)

	// TLS off: no certificate; plain HTTP serves without a redirect.
	if resp, err := c.Get("https://plain.example.com/"); err == nil {
		_ = resp.Body.Close()
		t.Error("handshake for a tls off host succeeded")
	}
	status, _, _ := get(t, newClient(), p.HTTPAddr(), "plain.example.com", "/")
	expect(t, "tls off over HTTP", status, 200)

	// Real domains with TLS redirect plain HTTP to HTTPS, path and query kept.
	_, port, _ := net.SplitHostPort(p.HTTPSAddr())
	for _, host := range []string{"custom.example.com", "auto.example.com"} {
		status, _, h := get(t, newClient(), p.HTTPAddr(), host, "/a/b?c=d")
		expect(t, host+" redirect status", status, http.StatusPermanentRedirect)
		expect(t, host+" redirect location", h.Get("Location"), "https://"+host+":"+port+"/a/b?c=d")
	}
}

func TestACMEOnDemandOnlyForWildcardAutoHosts(t *testing.T) {
	p := startProxy(t, t.TempDir())
	certFile, keyFile, _ := selfSigned(t, "custom.example.com")
	mustSet(t, p, "site",
		Route{Host: "auto.example.com"},
		Route{Host: "*.wild.example.com"},
		Route{Host: "plain.example.com", TLS: TLSOff},
		Route{Host: "custom.example.com", TLS: TLSCustom, CertFile: certFile, KeyFile: keyFile},
		Route{Host: "app.localhost"},
	)
	for name, allowed := range map[string]bool{
		"auto.example.com":   false, // obtained ahead, not on demand
		"a.wild.example.com": true,
		"wild.example.com":   false,
		"plain.example.com":  false,
		"custom.example.com": false,
		"app.localhost":      false,
		"evil.example.com":   false,
	} {
		err := p.allowOnDemand(context.Background(), name)
		if allowed != (err == nil) {
			t.Errorf("on-demand ACME for %s: %v, want allowed=%v", name, err, allowed)
		}
		if err != nil && !errors.Is(err, ErrNoCertificate) {
			t.Errorf("on-demand ACME for %s: %v is not ErrNoCertificate", name, err)
		}
	}
}

func TestNewNeedsDataDirForHTTPS(t *testing.T) {
	if _, err := New(Config{HTTPSAddr: "127.0.0.1:0"}); !errors.Is(err, ErrNoDataDir) {
		t.Fatalf("New without a data directory: %v", err)
	}
}

func TestAddressAsServerNameGetsLocalhost(t *testing.T) {
	p := startProxy(t, t.TempDir())
	mustSet(t, p, "site", Route{Host: "localhost"})
	// wrk sends the address it dialled as the server name.
	for _, name := range []string{"", "127.0.0.1", "::1"} {
		c, err := p.getCertificate(&tls.ClientHelloInfo{ServerName: name})
		if err != nil {
			t.Fatalf("server name %q: %v", name, err)
		}
		if err := c.Leaf.VerifyHostname("localhost"); err != nil {
			t.Errorf("server name %q: %v", name, err)
		}
	}
	if _, err := p.getCertificate(&tls.ClientHelloInfo{ServerName: "other.example.com"}); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("an unrouted name: %v", err)
	}
}

func TestACMEOnDemandRateOfNewNames(t *testing.T) {
	p := startProxy(t, t.TempDir())
	mustSet(t, p, "saas", Route{Host: "*.apps.example.com"})
	ctx := context.Background()
	for i := range onDemandBurst {
		if err := p.allowOnDemand(ctx, fmt.Sprintf("t%d.apps.example.com", i)); err != nil {
			t.Fatalf("new name %d of the burst: %v", i, err)
		}
	}
	err := p.allowOnDemand(ctx, "one-too-many.apps.example.com")
	if !errors.Is(err, ErrNoCertificate) || !strings.Contains(err.Error(), "too many new names") {
		t.Errorf("a name beyond the burst: %v", err)
	}
	// Names already allowed stay allowed (renewals, handshakes after the
	// first).
	if err := p.allowOnDemand(ctx, "t0.apps.example.com"); err != nil {
		t.Errorf("a name allowed before: %v", err)
	}
}
