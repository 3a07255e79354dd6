package proxy

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
	"strings"
	"sync"
	"time"

	"github.com/quai-dev/quai/internal/fsutil"
)

// ErrNoCertificate is returned during a TLS handshake for a host quai does
// not serve over TLS.
var ErrNoCertificate = errors.New("no certificate for this host")

const (
	caDirName     = "ca"
	caCertName    = "root.crt"
	caKeyName     = "root.key"
	caValidity    = 10 * 365 * 24 * time.Hour
	leafValidity  = 30 * 24 * time.Hour
	leafRenewLeft = 7 * 24 * time.Hour
	acmeALPN      = "acme-tls/1"
)

// RootCertPath is where the local CA's root certificate lives under a data
// directory: the file a user adds to their trust store to browse
// https://*.localhost without warnings.
func RootCertPath(dataDir string) string {
	return filepath.Join(dataDir, caDirName, caCertName)
}

// isLocalName reports names the local CA serves: localhost and its
// subdomains, which never resolve off the machine.
func isLocalName[T string | []byte](host T) bool {
	const suffix = ".localhost"
	return string(host) == "localhost" ||
		len(host) >= len(suffix) && string(host[len(host)-len(suffix):]) == suffix
}

// localCA issues certificates for *.localhost names. Its root is name
// constrained to localhost, so trusting it cannot vouch for a real domain.
type localCA struct {
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
	certPath string

	mu     sync.Mutex
	leaves map[string]*tls.Certificate
}

// loadOrCreateCA reads the CA under dataDir, creating it on first use.
func loadOrCreateCA(dataDir string) (*localCA, error) {
	dir := filepath.Join(dataDir, caDirName)
	certPath, keyPath := RootCertPath(dataDir), filepath.Join(dir, caKeyName)
	ca := &localCA{certPath: certPath, leaves: make(map[string]*tls.Certificate)}
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	if certErr == nil && keyErr == nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("loading the local CA from %s: %w (remove the directory to create a new one)", dir, err)
		}
		key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("loading the local CA from %s: the key is not ECDSA (remove the directory to create a new one)", dir)
		}
		ca.cert, ca.key = pair.Leaf, key
		if ca.cert == nil {
			if ca.cert, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
				return nil, fmt.Errorf("loading the local CA from %s: %w", dir, err)
			}
		}
		return ca, nil
	}
	if !errors.Is(certErr, os.ErrNotExist) && certErr != nil {
		return nil, fmt.Errorf("reading the local CA: %w", certErr)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("creating the local CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:                randomSerial(),
		Subject:                     pkix.Name{CommonName: "quai local CA " + now.UTC().Format("2006-01-02"), Organization: []string{"quai"}},
		NotBefore:                   now.Add(-time.Hour),
		NotAfter:                    now.Add(caValidity),
		KeyUsage:                    x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid:       true,
		IsCA:                        true,
		MaxPathLenZero:              true,
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("creating the local CA certificate: %w", err)
	}
	if ca.cert, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	ca.key = key
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the local CA directory: %w", err)
	}
	if err := fsutil.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	if err := fsutil.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	return ca, nil
}

// leaf returns a certificate for name, issuing it on first use and again
// when it nears expiry.
func (ca *localCA) leaf(name string) (*tls.Certificate, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if c := ca.leaves[name]; c != nil && time.Until(c.Leaf.NotAfter) > leafRenewLeft {
		return c, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("issuing a local certificate for %s: %w", name, err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key, Leaf: parsed}
	ca.leaves[name] = c
	return c, nil
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand does not fail on supported platforms.
		panic(err)
	}
	return n
}

func loadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return &c, nil
}

// getCertificate picks the certificate for a handshake from the routing
// table: custom files, the local CA for *.localhost, ACME otherwise.
func (p *Proxy) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
	if p.magic != nil && len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acmeALPN {
		return p.magic.GetCertificate(hello)
	}
	if _, routed := p.table.Load().hostTLS(name); name == "" || !routed && net.ParseIP(name) != nil {
		// No SNI: a client that dialled an address, such as curl on
		// 127.0.0.1; the localhost certificate is the honest answer. Some
		// clients (wrk) send the address as the name, which RFC 6066
		// forbids: the same.
		name = "localhost"
		if _, routed := p.table.Load().hostTLS(name); !routed {
			return nil, fmt.Errorf("%w: the client sent no server name", ErrNoCertificate)
		}
	}
	h, routed := p.table.Load().hostTLS(name)
	if !routed {
		return nil, fmt.Errorf("%w: %s is not routed", ErrNoCertificate, name)
	}
	switch h.tls {
	case TLSCustom:
		return h.cert, nil
	case TLSAuto:
		if isLocalName(name) {
			return p.ca.leaf(name)
		}
		if p.magic != nil && net.ParseIP(name) == nil {
			// Exact hosts have certificates obtained ahead (acme.go);
			// names under a wildcard route get theirs on demand.
			if p.table.Load().exact[name] != nil {
				return p.magic.GetCertificate(hello)
			}
			return p.magicOnDemand.GetCertificate(hello)
		}
	}
	return nil, fmt.Errorf("%w: %s is served without TLS", ErrNoCertificate, name)
}
