package daemon_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/daemon"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/proxy/acmetest"
	"github.com/quai-dev/quai/internal/wire"
)

// TestRemoteACMECertificate: `quai serve --listen ADDR --acme-domain NAME`
// gets the network API's certificate for NAME from a real ACME CA
// (Pebble, resolving every name to loopback), the HTTP-01 challenge
// answered by the proxy's HTTP listener from the storage the two share,
// and serves the API with it: a client that trusts only the CA's roots
// and no pin verifies it for NAME, and the daemon advertises no
// fingerprint to pin.
func TestRemoteACMECertificate(t *testing.T) {
	httpPort := acmetest.FreePorts(t, 1)[0]
	ca := acmetest.Start(t, acmetest.Options{HTTPPort: httpPort, TLSPort: acmetest.FreePorts(t, 1)[0]})
	const name = "api.quai.test"
	d := daemontest.Start(t, daemontest.Options{
		HTTPAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)),
		ACMECA:   ca.Directory,
		Remote:   daemon.RemoteConfig{Listen: "127.0.0.1:0", ACMEDomain: name, ACMERoots: ca.ServerRoots},
	})
	if fp := d.APIFingerprint(); fp != "" {
		t.Errorf("an ACME certificate has a fingerprint to pin: %q", fp)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Roots, ServerName: name, MinVersion: tls.VersionTLS12},
	}}
	url := "https://" + d.APIAddr() + wire.Prefix + "/info"
	var last error
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		resp, err := hc.Get(url)
		if err != nil {
			last = err
			continue
		}
		var info map[string]any
		err = json.NewDecoder(resp.Body).Decode(&info)
		_ = resp.Body.Close()
		leaf := resp.TLS.PeerCertificates[0]
		if err := leaf.VerifyHostname(name); err != nil {
			t.Fatalf("the API's certificate: %v", err)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Roots, DNSName: name, Intermediates: pool(resp.TLS.PeerCertificates[1:])}); err != nil {
			t.Fatalf("the API's certificate is not the CA's: %v", err)
		}
		// Unauthenticated, the API answers (401 with a JSON error): the
		// TLS connection is what this test is about.
		if resp.StatusCode != http.StatusUnauthorized || err != nil {
			t.Fatalf("GET %s without a token: %d (%v), want 401", url, resp.StatusCode, err)
		}
		return
	}
	t.Fatalf("the API never served a certificate for %s from the CA: %v\nPebble:\n%s", name, last, ca.Log())
}

func pool(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}
