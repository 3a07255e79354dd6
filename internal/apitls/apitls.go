// Package apitls owns the TLS of the daemon's network API (quai serve
// --listen): quai's own API CA kept under the data directory and the server
// certificate it issues for the machine's names and addresses, a
// certificate given as files (reloaded when they change), or one obtained
// by ACME for a public name. The API CA is separate from the proxy's local
// CA, which is name-constrained to *.localhost: clients pin the API CA per
// context (quai login), they never add it to a system trust store.
//
// It imports the standard library, certmagic (ACME) and internal/fsutil
// and internal/wire; nothing of the daemon, the API or the engine.
package apitls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/quai-dev/quai/internal/fsutil"
	"github.com/quai-dev/quai/internal/wire"
)

const (
	caCertName     = "ca.crt"
	caKeyName      = "ca.key"
	serverCertName = "server.crt"
	serverKeyName  = "server.key"
	caValidity     = 10 * 365 * 24 * time.Hour
	serverValidity = 90 * 24 * time.Hour
	serverRenewAt  = 30 * 24 * time.Hour
	// statEvery bounds how often a given certificate's files are looked at
	// for changes during handshakes.
	statEvery = 2 * time.Second
)

// Dir is where the API CA and its server certificate live under a data
// directory.
func Dir(dataDir string) string { return filepath.Join(dataDir, "api-tls") }

// Source hands out the network API's certificate.
type Source interface {
	// GetCertificate is tls.Config.GetCertificate.
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// Fingerprint is what clients pin: the SHA-256 fingerprint of the CA
	// (or of the top certificate of a given chain); empty when public
	// roots vouch for the certificate (ACME).
	Fingerprint() string
	// Reload re-reads what may have changed on disk (SIGHUP).
	Reload() error
}

// ServerConfig is the TLS configuration of the API listener: TLS 1.2 at
// least, 1.3 preferred (Go negotiates the highest both sides have), and
// HTTP/1.1 only: exec takes the connection over (HTTP/1.1 upgrade), which
// HTTP/2 has no way to do.
func ServerConfig(src Source) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: src.GetCertificate,
		NextProtos:     []string{"http/1.1"},
	}
}

// CA is quai's own API CA and the server certificate it issues.
type CA struct {
	dir   string
	names []string // DNS names of the server certificate
	ips   []net.IP
	now   func() time.Time

	cert *x509.Certificate
	key  *ecdsa.PrivateKey

	mu     sync.Mutex
	server *tls.Certificate
}

// LoadOrCreateCA reads the API CA under dir (Dir(dataDir)), creating it on
// first use (key 0600, atomic writes), and issues or reuses a server
// certificate valid for names (DNS names or IP addresses). A server
// certificate on disk that does not cover names, or nears its end, is
// replaced.
func LoadOrCreateCA(dir string, names []string, now func() time.Time) (*CA, error) {
	if now == nil {
		now = time.Now
	}
	ca := &CA{dir: dir, now: now}
	for _, n := range names {
		n = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(n)), ".")
		if n == "" {
			continue
		}
		if ip := net.ParseIP(strings.Trim(n, "[]")); ip != nil {
			if !slices.ContainsFunc(ca.ips, ip.Equal) {
				ca.ips = append(ca.ips, ip)
			}
		} else if !slices.Contains(ca.names, n) {
			ca.names = append(ca.names, n)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create the API CA directory: %w", err)
	}
	if err := ca.loadOrCreateRoot(); err != nil {
		return nil, err
	}
	if err := ca.loadServer(); err != nil {
		return nil, err
	}
	return ca, nil
}

func (ca *CA) loadOrCreateRoot() error {
	certPath, keyPath := filepath.Join(ca.dir, caCertName), filepath.Join(ca.dir, caKeyName)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	if certErr == nil && keyErr == nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return fmt.Errorf("load the API CA from %s: %w (remove the directory to create a new one; clients then log in again)", ca.dir, err)
		}
		key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
		if !ok {
			return fmt.Errorf("load the API CA from %s: the key is not ECDSA", ca.dir)
		}
		ca.cert, ca.key = pair.Leaf, key
		return nil
	}
	for _, err := range []error{certErr, keyErr} {
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("read the API CA: %w", err)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("create the API CA key: %w", err)
	}
	now := ca.now()
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "quai API CA " + host + " " + now.UTC().Format("2006-01-02"), Organization: []string{"quai"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("create the API CA certificate: %w", err)
	}
	if ca.cert, err = x509.ParseCertificate(der); err != nil {
		return err
	}
	ca.key = key
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := fsutil.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return fsutil.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// loadServer reuses the server certificate on disk when it is the CA's,
// covers every name and is not near its end; else it issues a new one.
func (ca *CA) loadServer() error {
	c, err := tls.LoadX509KeyPair(filepath.Join(ca.dir, serverCertName), filepath.Join(ca.dir, serverKeyName))
	if err == nil && c.Leaf != nil && ca.fits(c.Leaf) {
		c.Certificate = append(c.Certificate[:1], ca.cert.Raw)
		ca.server = &c
		return nil
	}
	return ca.issue()
}

func (ca *CA) fits(leaf *x509.Certificate) bool {
	if leaf.CheckSignatureFrom(ca.cert) != nil || leaf.NotAfter.Sub(ca.now()) < serverRenewAt {
		return false
	}
	for _, n := range ca.names {
		if !slices.Contains(leaf.DNSNames, n) {
			return false
		}
	}
	for _, ip := range ca.ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

// issue makes a new server certificate and writes it (key 0600).
func (ca *CA) issue() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := ca.now()
	cn := "quai API"
	if len(ca.names) > 0 {
		cn = ca.names[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"quai"}},
		DNSNames:     ca.names,
		IPAddresses:  ca.ips,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(serverValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return fmt.Errorf("issue the API server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := fsutil.WriteFile(filepath.Join(ca.dir, serverKeyName), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	if err := fsutil.WriteFile(filepath.Join(ca.dir, serverCertName), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	ca.server = &tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key, Leaf: leaf}
	return nil
}

// GetCertificate returns the server certificate, renewing it when it nears
// its end (a daemon runs for months).
func (ca *CA) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if ca.server.Leaf.NotAfter.Sub(ca.now()) < serverRenewAt {
		if err := ca.issue(); err != nil {
			return nil, err
		}
	}
	return ca.server, nil
}

// Fingerprint is the CA certificate's SHA-256 fingerprint.
func (ca *CA) Fingerprint() string { return wire.CertFingerprint(ca.cert.Raw) }

// CertPEM is the CA certificate in PEM.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

// Names are the DNS names and addresses the server certificate covers.
func (ca *CA) Names() []string {
	out := slices.Clone(ca.names)
	for _, ip := range ca.ips {
		out = append(out, ip.String())
	}
	return out
}

// Reload is a no-op: the CA's files are quai's own.
func (ca *CA) Reload() error { return nil }

// HostNames are the names a server certificate for addr (a listen address)
// covers by default: the machine's host name, localhost, the loopback
// addresses and the listen address, or every interface's address when it
// listens on all of them; extra are added (quai serve --listen-name).
func HostNames(addr string, extra []string) []string {
	names := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" {
		names = append(names, h)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok && !n.IP.IsLinkLocalUnicast() {
					names = append(names, n.IP.String())
				}
			}
		}
	} else {
		names = append(names, host)
	}
	return append(names, extra...)
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand does not fail on supported platforms.
		panic(err)
	}
	return n
}

// Files is a certificate and key given as files (quai serve --tls-cert
// --tls-key), re-read when either file changes and on Reload.
type Files struct {
	certFile, keyFile string
	now               func() time.Time

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string
	checked time.Time
}

// LoadFiles reads the certificate chain and key.
func LoadFiles(certFile, keyFile string) (*Files, error) {
	f := &Files{certFile: certFile, keyFile: keyFile, now: time.Now}
	if err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *Files) fileStamp() string {
	var b strings.Builder
	for _, p := range []string{f.certFile, f.keyFile} {
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%d/%d;", fi.ModTime().UnixNano(), fi.Size())
		}
	}
	return b.String()
}

// Reload re-reads the files; a pair that does not load leaves the previous
// certificate in use.
func (f *Files) Reload() error {
	stamp := f.fileStamp()
	c, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		return fmt.Errorf("load the API certificate %s and key %s: %w", f.certFile, f.keyFile, err)
	}
	f.mu.Lock()
	f.cert, f.stamp = &c, stamp
	f.mu.Unlock()
	return nil
}

// GetCertificate returns the certificate, re-reading the files first when
// they changed (looked at once every few seconds at most).
func (f *Files) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	check := f.now().Sub(f.checked) >= statEvery
	if check {
		f.checked = f.now()
	}
	stamp := f.stamp
	f.mu.Unlock()
	if check && f.fileStamp() != stamp {
		_ = f.Reload() // a half-written pair keeps the previous certificate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cert, nil
}

// Fingerprint is the fingerprint of the top certificate of the chain (the
// issuer a client pins; the certificate itself when it is self-signed).
func (f *Files) Fingerprint() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return wire.CertFingerprint(f.cert.Certificate[len(f.cert.Certificate)-1])
}
