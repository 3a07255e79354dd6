package apitls

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/caddyserver/certmagic"
)

// ACMEConfig asks for the API's certificate from an ACME CA.
type ACMEConfig struct {
	// Domain is the public name clients reach the API at.
	Domain string
	// Email is the ACME account's contact.
	Email string
	// Directory is the ACME directory; default Let's Encrypt production.
	Directory string
	// Roots are trusted for the directory (a test CA such as Pebble).
	Roots *x509.CertPool
	// Storage is certmagic's storage directory. Sharing the proxy's lets
	// the proxy's port 80 answer the HTTP-01 challenge for this name.
	Storage string
	// HTTPPort is where the HTTP-01 challenge is answered (the proxy's
	// HTTP port); 0 means 80.
	HTTPPort int
}

// ACME is a certificate managed by certmagic: obtained in the background
// at start, renewed before it ends.
type ACME struct {
	magic *certmagic.Config
}

// NewACME starts managing the certificate of cfg.Domain; handshakes fail
// until it is obtained.
func NewACME(ctx context.Context, cfg ACMEConfig) (*ACME, error) {
	var magic *certmagic.Config
	cache := certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return magic, nil },
	})
	magic = certmagic.New(cache, certmagic.Config{Storage: &certmagic.FileStorage{Path: cfg.Storage}})
	issuer := certmagic.NewACMEIssuer(magic, certmagic.ACMEIssuer{
		CA:           cmp.Or(cfg.Directory, certmagic.LetsEncryptProductionCA),
		Email:        cfg.Email,
		Agreed:       true,
		AltHTTPPort:  cfg.HTTPPort,
		TrustedRoots: cfg.Roots,
		// The API listener answers TLS-ALPN challenges only when it is
		// on 443; HTTP-01 through the proxy's port is what works anywhere.
		DisableTLSALPNChallenge: true,
	})
	magic.Issuers = []certmagic.Issuer{issuer}
	if err := magic.ManageAsync(ctx, []string{cfg.Domain}); err != nil {
		return nil, fmt.Errorf("ACME certificate for %s: %w", cfg.Domain, err)
	}
	return &ACME{magic: magic}, nil
}

// GetCertificate is certmagic's.
func (a *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return a.magic.GetCertificate(hello)
}

// Fingerprint is empty: public roots vouch for the certificate.
func (a *ACME) Fingerprint() string { return "" }

// Reload is a no-op: certmagic renews on its own.
func (a *ACME) Reload() error { return nil }
