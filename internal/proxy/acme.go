package proxy

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"
	"golang.org/x/time/rate"
)

// New names under wildcard routes get certificates on demand at most
// onDemandBurst at once, then one every onDemandEvery: a client inventing
// names under a wildcard cannot make quai exhaust the CA's rate limits.
const (
	onDemandBurst = 10
	onDemandEvery = time.Minute
)

// A failed attempt to obtain an exact host's certificate is retried after
// acmeRetryFirst, then after twice as long each time, up to acmeRetryMax:
// few enough failures an hour to stay under Let's Encrypt's limit on
// failed validations.
const (
	acmeRetryFirst = 5 * time.Minute
	acmeRetryMax   = 12 * time.Hour
)

// Names of ACME directories for Config.ACMEDirectory and the daemon's
// --acme-ca flag; any other value is the directory's https URL.
const (
	ACMEProduction = "production" // Let's Encrypt, trusted certificates, strict rate limits
	ACMEStaging    = "staging"    // Let's Encrypt staging: untrusted certificates, generous limits
)

// ACMEDirectoryURL resolves an --acme-ca value: "production" (or empty),
// "staging", or the https URL of another CA's ACME directory.
func ACMEDirectoryURL(ca string) (string, error) {
	switch ca {
	case "", ACMEProduction:
		return certmagic.LetsEncryptProductionCA, nil
	case ACMEStaging:
		return certmagic.LetsEncryptStagingCA, nil
	}
	u, err := url.Parse(ca)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("the ACME CA %q is not %q, %q or an https:// directory URL", ca, ACMEProduction, ACMEStaging)
	}
	return ca, nil
}

// acmeName reports whether quai asks an ACME CA for name's certificate:
// real domains only, never local names (its own CA serves those) or IPs.
func acmeName(name string) bool {
	return name != "" && !isLocalName(name) && net.ParseIP(name) == nil
}

// newCertmagic sets up ACME: certificates of exact hosts routed with tls
// auto are obtained as soon as the route exists and renewed in the
// background ahead of expiry (the managed configuration); names under a
// wildcard route get theirs during their first handshake, when allowOnDemand
// accepts them (the on-demand configuration, renewed during handshakes).
// Both store accounts and certificates under DataDir/acme and answer
// HTTP-01 on the proxy's HTTP listener and TLS-ALPN-01 on its HTTPS one.
// p.mu is held.
func (p *Proxy) newCertmagic(httpPort, httpsPort int) {
	logger := newZapLogger(p.log)
	var managed, onDemand *certmagic.Config
	cache := certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(c certmagic.Certificate) (*certmagic.Config, error) {
			t := p.table.Load()
			for _, n := range c.Names {
				if h := t.exact[n]; h != nil && h.tls == TLSAuto {
					return managed, nil
				}
			}
			return onDemand, nil
		},
		RenewCheckInterval: p.cfg.ACMERenewCheck,
		Logger:             logger,
	})
	// Renewal starts when 1/3 to 5/12 of a certificate's lifetime is left
	// (for 90 days: 30 to 37.5 days before expiry), at a point drawn per
	// process, so that servers set up together do not renew together. A CA
	// with ACME Renewal Info (Let's Encrypt) suggests a window instead, in
	// which certmagic picks a random time.
	base := certmagic.Config{
		Storage:            &certmagic.FileStorage{Path: filepath.Join(p.cfg.DataDir, "acme")},
		RenewalWindowRatio: 1.0/3 + rand.Float64()/12, //nolint:gosec // jitter, not a secret
		Logger:             logger,
		OnEvent:            p.onCertEvent,
	}
	managed = certmagic.New(cache, base)
	od := base
	od.OnDemand = &certmagic.OnDemandConfig{DecisionFunc: p.allowOnDemand}
	onDemand = certmagic.New(cache, od)
	dir, err := ACMEDirectoryURL(p.cfg.ACMEDirectory)
	if err != nil {
		// New checked it.
		dir = p.cfg.ACMEDirectory
	}
	tmpl := certmagic.ACMEIssuer{
		CA:     dir,
		Email:  p.cfg.ACMEEmail,
		Agreed: true,
		// The challenge solvers find these ports taken by the proxy
		// itself, which answers challenges through the same storage.
		AltHTTPPort:             httpPort,
		AltTLSALPNPort:          httpsPort,
		DisableHTTPChallenge:    httpPort == 0 || p.acmeOnly == acme.ChallengeTypeTLSALPN01,
		DisableTLSALPNChallenge: p.acmeOnly == acme.ChallengeTypeHTTP01,
		TrustedRoots:            p.cfg.ACMERoots,
		Logger:                  logger,
	}
	p.acme = certmagic.NewACMEIssuer(managed, tmpl)
	managed.Issuers = []certmagic.Issuer{p.acme}
	onDemand.Issuers = []certmagic.Issuer{certmagic.NewACMEIssuer(onDemand, tmpl)}
	p.magic, p.magicOnDemand, p.magicCache = managed, onDemand, cache
	p.acmeCtx, p.acmeStop = context.WithCancel(context.Background())
	p.acmeManaged = make(map[string]context.CancelFunc)
	p.onDemandSeen = make(map[string]bool)
	p.onDemandLimit = rate.NewLimiter(rate.Every(onDemandEvery), onDemandBurst)
}

// manageACME starts managing the certificates of exact hosts t routes with
// tls auto that are not managed yet, and stops managing those it no longer
// routes. p.mu is held.
func (p *Proxy) manageACME(t *table) {
	if p.magic == nil {
		return
	}
	want := make(map[string]bool)
	for host, h := range t.exact {
		if h.tls == TLSAuto && acmeName(host) {
			want[host] = true
		}
	}
	for host, stop := range p.acmeManaged {
		if !want[host] {
			stop()
			delete(p.acmeManaged, host)
			p.magicCache.RemoveManaged([]certmagic.SubjectIssuer{{Subject: host}})
			p.clearCertFailure(host)
		}
	}
	for host := range want {
		if _, ok := p.acmeManaged[host]; ok {
			continue
		}
		ctx, stop := context.WithCancel(p.acmeCtx)
		p.acmeManaged[host] = stop
		p.acmeWG.Add(1)
		go p.obtain(ctx, host)
	}
}

// obtain loads host's certificate from storage or obtains it, retrying
// with backoff until it has one or ctx ends; from then on the cache's
// maintenance renews it. Failures reach Certificates through onCertEvent.
// (certmagic's ManageAsync retries too, but in goroutines nobody can wait
// for: Shutdown waits for these.)
func (p *Proxy) obtain(ctx context.Context, host string) {
	defer p.acmeWG.Done()
	delay := acmeRetryFirst
	for {
		err := p.magic.ManageSync(ctx, []string{host})
		if err == nil || ctx.Err() != nil {
			return
		}
		p.recordCertFailure(host, err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, acmeRetryMax)
	}
}

// allowOnDemand is certmagic's on-demand decision: only names a wildcard
// route serves with tls auto get a certificate during a handshake, so
// nobody can make quai request certificates for names it does not route,
// and new ones at a bounded rate. Exact hosts are not on demand: theirs are
// obtained ahead.
func (p *Proxy) allowOnDemand(ctx context.Context, name string) error {
	t := p.table.Load()
	if !acmeName(name) || t.exact[name] != nil {
		return fmt.Errorf("%w: %s is not routed by a wildcard route with tls auto", ErrNoCertificate, name)
	}
	_, wild := t.hostEntry(name)
	if wild == nil || wild.tls != TLSAuto {
		return fmt.Errorf("%w: %s is not routed by a wildcard route with tls auto", ErrNoCertificate, name)
	}
	p.onDemandMu.Lock()
	defer p.onDemandMu.Unlock()
	if p.onDemandSeen[name] {
		return nil
	}
	// A certificate stored before a restart is no new name.
	stored := p.acme != nil && p.magicOnDemand.Storage.Exists(ctx, certmagic.StorageKeys.SiteCert(p.acme.IssuerKey(), name))
	if !stored && !p.onDemandLimit.Allow() {
		return fmt.Errorf("%w: too many new names under wildcard routes (%d at once, then one every %s); %s gets its certificate later",
			ErrNoCertificate, onDemandBurst, onDemandEvery, name)
	}
	p.onDemandSeen[name] = true
	return nil
}

// RenewCertificate renews host's ACME certificate now, whatever its expiry:
// for an operator who replaced a key or a CA that revoked one.
func (p *Proxy) RenewCertificate(ctx context.Context, host string) error {
	p.mu.Lock()
	cfg := p.magic
	_, managed := p.acmeManaged[host]
	p.mu.Unlock()
	if cfg == nil || !managed {
		return fmt.Errorf("%w: %s has no ACME certificate managed by the proxy", ErrNoCertificate, host)
	}
	if err := cfg.RenewCertSync(ctx, host, true); err != nil {
		return errors.New(explainACMEError(host, err))
	}
	return nil
}

func (p *Proxy) recordCertFailure(name string, err error) {
	msg := explainACMEError(name, err)
	if p.log != nil {
		p.log.Warn("no certificate for "+name, "host", name, "err", msg)
	}
	p.certMu.Lock()
	defer p.certMu.Unlock()
	if p.certFailures == nil {
		p.certFailures = map[string]string{}
	}
	if _, ok := p.certFailures[name]; !ok {
		p.failing.Add(1)
	}
	p.certFailures[name] = msg
}

func (p *Proxy) clearCertFailure(name string) {
	p.certMu.Lock()
	defer p.certMu.Unlock()
	if _, ok := p.certFailures[name]; ok {
		delete(p.certFailures, name)
		p.failing.Add(-1)
	}
}

// noCertificate reports a host whose ACME certificate could not be
// obtained and that has none to serve: its plain HTTP requests are served
// instead of redirected to an HTTPS that would fail, until one is obtained
// (Certificates says why meanwhile).
func (p *Proxy) noCertificate(host string) bool {
	if p.failing.Load() == 0 {
		return false
	}
	p.certMu.Lock()
	_, failed := p.certFailures[host]
	p.certMu.Unlock()
	if !failed || p.magicCache == nil {
		return false
	}
	for _, c := range p.magicCache.AllMatchingCertificates(host) {
		if !c.Expired() {
			return false
		}
	}
	return true
}

// explainACMEError turns a failure to obtain a certificate into what
// happened and what to do, from the ACME problem the CA returned.
func explainACMEError(host string, err error) string {
	if err == nil {
		return ""
	}
	var prob acme.Problem
	typ, detail := "", err.Error()
	if errors.As(err, &prob) {
		typ, detail = prob.Type, prob.Error()
		// A failed authorization carries the challenge's own problem.
		for _, sub := range prob.Subproblems {
			if sub.Type != "" {
				typ = sub.Type
				break
			}
		}
	} else if i := strings.Index(detail, acme.ProblemTypeNamespace); i >= 0 {
		typ = detail[i:]
		if j := strings.IndexAny(typ, " ,:;)'\""); j >= 0 {
			typ = typ[:j]
		}
	}
	lower := strings.ToLower(detail)
	if typ == "" {
		// No problem from the CA: the proxy could not talk to it at all
		// (a "connection refused" here is the CA's, not the challenge's).
		var nerr net.Error
		var uerr *url.Error
		if errors.As(err, &uerr) || errors.As(err, &nerr) || strings.Contains(lower, "provisioning client") {
			return fmt.Sprintf("cannot talk to the ACME CA for %s (%s): check this server's outbound network and --acme-ca", host, detail)
		}
	}
	// CAs file some failures under a broader type (Pebble reports an
	// unreachable challenge port as unauthorized): the detail tells.
	switch {
	case typ == acme.ProblemTypeRateLimited:
	case strings.Contains(lower, "dns problem") || strings.Contains(lower, "nxdomain") || strings.Contains(lower, "no valid a records"):
		typ = acme.ProblemTypeDNS
	case strings.Contains(lower, "failed to connect") || strings.Contains(lower, "connection refused") ||
		strings.Contains(lower, "timeout") || strings.Contains(lower, "no route to host"):
		typ = acme.ProblemTypeConnection
	}
	switch typ {
	case acme.ProblemTypeRateLimited:
		return fmt.Sprintf("the CA rate-limited certificate requests for %s (%s): quai retries later on its own; "+
			"wait until the limit resets, and try changes with --acme-ca staging first", host, detail)
	case acme.ProblemTypeDNS:
		return fmt.Sprintf("the CA cannot resolve %s (%s): create a DNS A (and AAAA) record for %s pointing at this server's public address", host, detail, host)
	case acme.ProblemTypeConnection, acme.ProblemTypeTLS:
		return fmt.Sprintf("the CA could not reach %s on port 80 or 443 to check the challenge (%s): make sure %s's DNS points at this server "+
			"and that ports 80 and 443 are open to the internet (firewall, port forwarding)", host, detail, host)
	case acme.ProblemTypeUnauthorized, acme.ProblemTypeIncorrectResponse:
		return fmt.Sprintf("the CA reached a server for %s that did not answer the challenge (%s): %s's DNS points at another server, "+
			"or something in front of quai answers ports 80/443; point the DNS at this server", host, detail, host)
	case acme.ProblemTypeCAA, acme.ProblemTypeRejectedIdentifier:
		return fmt.Sprintf("the CA refuses to issue a certificate for %s (%s): check the name and its DNS CAA records", host, detail)
	}
	return fmt.Sprintf("obtaining a certificate for %s failed: %s", host, detail)
}
