package cli_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/wire"
)

// writeCert writes a self-signed certificate for host, valid until
// notAfter, and its key into dir as cert.pem and key.pem.
func writeCert(t *testing.T, dir, host string, notAfter time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{"cert.pem": {Type: "CERTIFICATE", Bytes: der}, "key.pem": {Type: "EC PRIVATE KEY", Bytes: kb}} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStatusShowsCertificatesOfTheProxyProcess: with the proxy in its own
// process, as quai serve runs it, quai status shows the certificates the
// proxy serves (read over its control socket): a custom certificate with
// its expiry, and an ACME host whose CA cannot be reached with the error.
func TestStatusShowsCertificatesOfTheProxyProcess(t *testing.T) {
	// The proxy process is this test binary re-executed as quai.
	t.Setenv(envAsQuai, "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	d := daemontest.Start(t, daemontest.Options{ProxyExecutable: exe})
	if d.ProxyPID() == 0 {
		t.Fatal("the daemon runs the proxy inside itself, not in a process of its own")
	}
	dir := daemontest.AppProject(t, daemontest.App{Project: "certs"})
	notAfter := time.Now().Add(40 * 24 * time.Hour).UTC().Truncate(time.Second)
	writeCert(t, dir, "shop.example.com", notAfter)
	compose := filepath.Join(dir, "compose.yaml")
	b, err := os.ReadFile(compose)
	if err != nil {
		t.Fatal(err)
	}
	routes := `      tls: "off"
    - host: shop.example.com
      service: web
      port: 8080
      tls: custom
      cert: cert.pem
      key: key.pem
    - host: auto.example.com
      service: web
      port: 8080
`
	s := strings.Replace(string(b), "      tls: \"off\"\n", routes, 1)
	if err := os.WriteFile(compose, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, d, "up", dir, "--env", "dev", "-y")

	st := mustRun(t, d, "status", "certs-dev")
	want := "tls      shop.example.com  custom  expires " + notAfter.Format("2006-01-02")
	if !strings.Contains(st.stdout, want) {
		t.Errorf("status lacks %q", want)
	}
	if !strings.Contains(st.stdout, "tls      auto.example.com  acme  ") {
		t.Errorf("status lacks the ACME host's line")
	}
	js := mustRun(t, d, "status", "certs-dev", "--json")
	var got wire.InstanceStatus
	if err := json.Unmarshal([]byte(js.stdout), &got); err != nil {
		t.Fatal(err)
	}
	hosts := map[string]wire.CertificateState{}
	for _, c := range got.Certificates {
		hosts[c.Host] = c
	}
	if c := hosts["shop.example.com"]; c.Source != "custom" || !c.NotAfter.Equal(notAfter) {
		t.Errorf("shop.example.com: %+v; want custom until %s", c, notAfter)
	}
	if c := hosts["auto.example.com"]; c.Source != "acme" || !c.NotAfter.IsZero() {
		t.Errorf("auto.example.com: %+v; want acme without a certificate", c)
	}
}
