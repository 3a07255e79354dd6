// Package acmetest runs a real ACME certificate authority for tests: Pebble
// (Let's Encrypt's ACME test server, MPL-2.0), built by tools/pebble/build.sh,
// on 127.0.0.1 with its own configuration, and pebble-challtestsrv as its DNS
// resolver so that any test host name resolves to 127.0.0.1 (or to what a
// test sets with SetA). Pebble's validation authority connects to the ports
// the test's proxy listens on. Only tests import it.
//
// A missing binary skips the test, except in CI (CI=true), where it fails
// with the command that builds it: scripts/deps.sh does.
package acmetest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Version is the Pebble release tools/pebble/build.sh builds.
const Version = "v2.10.3"

// Dir is where the binaries are looked for: $QUAI_PEBBLE_DIR, else
// ${QUAI_TOOLS_BIN:-$HOME/.cache/quai/tools}/pebble-<Version>.
func Dir() string {
	if p := os.Getenv("QUAI_PEBBLE_DIR"); p != "" {
		return p
	}
	dir := os.Getenv("QUAI_TOOLS_BIN")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		dir = filepath.Join(home, ".cache", "quai", "tools")
	}
	return filepath.Join(dir, "pebble-"+Version)
}

// Options configures a CA.
type Options struct {
	// HTTPPort and TLSPort are where Pebble's validation authority connects
	// for HTTP-01 and TLS-ALPN-01 challenges: the test proxy's listeners.
	HTTPPort, TLSPort int
	// Validity is the lifetime of issued certificates (whole seconds); zero
	// means Pebble's default of 90 days. A short one makes renewal testable.
	Validity time.Duration
}

// CA is one running Pebble with its DNS server.
type CA struct {
	// Directory is the ACME directory URL.
	Directory string
	// ServerRoots trusts the directory's own HTTPS endpoint (a certificate
	// made for this CA): the ACME client's roots.
	ServerRoots *x509.CertPool
	// Roots trusts the certificates Pebble issues: a test client's roots.
	Roots *x509.CertPool

	mgmt, dnsMgmt string
	http          *http.Client
	logs          []string
	mu            sync.Mutex
	procs         []*exec.Cmd
	exited        []chan struct{}
}

// Start runs Pebble and pebble-challtestsrv until the test ends.
func Start(t testing.TB, opts Options) *CA {
	t.Helper()
	dir := Dir()
	for _, bin := range []string{"pebble", "pebble-challtestsrv"} {
		if fi, err := os.Stat(filepath.Join(dir, bin)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			msg := bin + " is not in " + dir + ": build it with tools/pebble/build.sh (or run scripts/deps.sh), or set QUAI_PEBBLE_DIR"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	tmp := t.TempDir()
	certPEM, keyPEM, pool := serverCert(t)
	certFile, keyFile := filepath.Join(tmp, "cert.pem"), filepath.Join(tmp, "key.pem")
	for f, b := range map[string][]byte{certFile: certPEM, keyFile: keyPEM} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ports := FreePorts(t, 4)
	wfe, mgmt, dns, dnsMgmt := ports[0], ports[1], ports[2], ports[3]
	ca := &CA{
		Directory:   "https://" + hostPort(wfe) + "/dir",
		ServerRoots: pool,
		mgmt:        "https://" + hostPort(mgmt),
		dnsMgmt:     "http://" + hostPort(dnsMgmt),
		http:        &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}},
	}
	t.Cleanup(ca.stop)

	ca.run(t, tmp, "pebble-challtestsrv", nil,
		"-dnsserver", hostPort(dns), "-management", hostPort(dnsMgmt),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
	validity := int64(opts.Validity / time.Second)
	if validity <= 0 {
		validity = 90 * 24 * 3600
	}
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  hostPort(wfe),
		"managementListenAddress":        hostPort(mgmt),
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       opts.HTTPPort,
		"tlsPort":                        opts.TLSPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":                   "ecdsa",
		"profiles":                       map[string]any{"default": map[string]any{"description": "test", "validityPeriod": validity}},
	}}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(tmp, "pebble.json")
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// No sleeping before validations, no rejected nonces, no reused
	// authorizations: every order validates, quickly and deterministically.
	ca.run(t, tmp, "pebble", []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"},
		"-config", cfgFile, "-dnsserver", hostPort(dns))

	deadline := time.Now().Add(30 * time.Second)
	for {
		root, err := ca.get(ca.mgmt + "/roots/0")
		if err == nil {
			ca.Roots = x509.NewCertPool()
			if !ca.Roots.AppendCertsFromPEM(root) {
				t.Fatalf("acmetest: Pebble's root is not PEM:\n%s", root)
			}
			if _, err := ca.get(ca.Directory); err == nil {
				return ca
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("acmetest: Pebble did not answer within 30s (%v):\n%s", err, ca.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SetA makes host resolve to addrs (instead of 127.0.0.1) for the CA.
func (ca *CA) SetA(t testing.TB, host string, addrs ...string) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"host": host, "addresses": addrs})
	resp, err := ca.http.Post(ca.dnsMgmt+"/add-a", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("acmetest: setting the A record of %s: %v", host, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("acmetest: setting the A record of %s: %s", host, resp.Status)
	}
}

// Log is what Pebble and the DNS server printed so far.
func (ca *CA) Log() string {
	var out []byte
	for _, f := range ca.logs {
		b, err := os.ReadFile(f)
		if err != nil {
			out = append(out, err.Error()...)
			continue
		}
		out = append(out, b...)
	}
	return string(bytes.TrimSpace(out))
}

func (ca *CA) get(url string) ([]byte, error) {
	resp, err := ca.http.Get(url)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, nil
}

func (ca *CA) run(t testing.TB, dir, bin string, env []string, args ...string) {
	t.Helper()
	logFile := filepath.Join(dir, bin+".log")
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(Dir(), bin), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		t.Fatalf("acmetest: start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(exited)
	}()
	ca.mu.Lock()
	ca.procs, ca.exited, ca.logs = append(ca.procs, cmd), append(ca.exited, exited), append(ca.logs, logFile)
	ca.mu.Unlock()
}

func (ca *CA) stop() {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	for i, cmd := range ca.procs {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-ca.exited[i]:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-ca.exited[i]
		}
	}
	ca.procs, ca.exited = nil, nil
}

// FreePorts returns n distinct loopback TCP ports that were free a moment
// ago: for servers that must know each other's ports before they start.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var lns []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range lns {
		_ = l.Close()
	}
	return ports
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// serverCert makes a self-signed certificate for 127.0.0.1 and localhost:
// Pebble's own HTTPS endpoints.
func serverCert(t testing.TB) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "acmetest pebble"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), pool
}

// WriteCert writes a self-signed ECDSA certificate for host, valid from an
// hour ago until notAfter, and its key as PEM files cert.pem and key.pem in
// dir: a tls: custom route's certificate in tests.
func WriteCert(t testing.TB, dir, host string, notAfter time.Time) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: host},
		DNSNames: []string{host}, NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
