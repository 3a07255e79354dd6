package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/quai-dev/quai/internal/wire"
)

// RemoteOptions describe a daemon's network API (quai serve --listen).
type RemoteOptions struct {
	// URL is the API's base, https://host:port.
	URL string
	// CAPEM is the pinned CA certificate (PEM) the daemon's certificate
	// must chain to; Fingerprint is its SHA-256 fingerprint (wire.
	// CertFingerprint). Either pins; with neither the system's roots are
	// trusted (a certificate from a public CA, ACME).
	CAPEM       []byte
	Fingerprint string
	// Token is sent as Authorization: Bearer.
	Token string
}

// PinError says the daemon's certificate is not vouched for by the pinned
// CA: the daemon's CA was replaced, or someone is in the middle.
type PinError struct {
	URL  string
	Want string // the pinned fingerprint
	Got  string // the fingerprint of the top of the chain the server sent
}

func (e *PinError) Error() string {
	return fmt.Sprintf("the certificate of %s does not match the pinned CA: the server presented a chain whose CA has fingerprint %s, this context pins %s.\n"+
		"  If the daemon's CA was replaced on purpose, check the new fingerprint on the server (`quai info` there) and log in again: quai login %s --fingerprint %s\n"+
		"  Otherwise someone may be intercepting the connection: do not log in.", e.URL, e.Got, e.Want, e.URL, e.Got)
}

// RemoteError says a remote daemon could not be reached.
type RemoteError struct {
	URL string
	Err error
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("cannot reach the quai daemon at %s: %v; check the address and that the daemon runs `quai serve --listen`", e.URL, e.Err)
}

// Unwrap returns both the cause and ErrUnreachable.
func (e *RemoteError) Unwrap() []error { return []error{ErrUnreachable, e.Err} }

// NewRemote returns a client of the daemon's network API at o.URL.
func NewRemote(o RemoteOptions) (*Client, error) {
	u, err := parseRemoteURL(o.URL)
	if err != nil {
		return nil, err
	}
	tc, err := pinnedTLS(u, o.CAPEM, o.Fingerprint)
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext:         dialer.DialContext,
		TLSClientConfig:     tc,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConns:        4,
		IdleConnTimeout:     30 * time.Second,
		// HTTP/1.1 only: exec takes the connection over with an upgrade.
		ForceAttemptHTTP2: false,
		Proxy:             http.ProxyFromEnvironment,
	}
	base := strings.TrimSuffix(u.String(), "/")
	return &Client{http: &http.Client{Transport: tr}, base: base + wire.Prefix, remote: base, token: o.Token}, nil
}

// parseRemoteURL accepts https://host[:port] (a path is not allowed).
func parseRemoteURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("%q is not a daemon address: want https://HOST:PORT, e.g. https://quai.example.net:7443", s)
	}
	u.Path = ""
	return u, nil
}

// pinnedTLS is the client TLS configuration: with a pin, the chain must
// contain the pinned certificate and the leaf must chain to it and be
// valid for the host; without, the system's roots decide.
func pinnedTLS(u *url.URL, caPEM []byte, fingerprint string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}}
	var pinned *x509.Certificate
	if len(caPEM) > 0 {
		b, _ := pem.Decode(caPEM)
		if b == nil || b.Type != "CERTIFICATE" {
			return nil, errors.New("the pinned CA certificate is not PEM: log in again")
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("the pinned CA certificate: %w", err)
		}
		pinned = c
		if fingerprint == "" {
			fingerprint = wire.CertFingerprint(c.Raw)
		}
	}
	if fingerprint == "" {
		return tc, nil
	}
	want, err := wire.ParseFingerprint(fingerprint)
	if err != nil {
		return nil, err
	}
	if pinned != nil && wire.CertFingerprint(pinned.Raw) != want {
		return nil, fmt.Errorf("the pinned CA certificate has fingerprint %s, not the pinned %s: log in again", wire.CertFingerprint(pinned.Raw), want)
	}
	host := u.Hostname()
	tc.InsecureSkipVerify = true // replaced by VerifyConnection against the pin
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		return verifyPinned(cs.PeerCertificates, want, host, u.Scheme+"://"+u.Host)
	}
	return tc, nil
}

// verifyPinned checks a presented chain against the pinned fingerprint.
func verifyPinned(chain []*x509.Certificate, want, host, where string) error {
	if len(chain) == 0 {
		return errors.New("the server presented no certificate")
	}
	var anchor *x509.Certificate
	inter := x509.NewCertPool()
	for _, c := range chain {
		if wire.CertFingerprint(c.Raw) == want {
			anchor = c
		} else {
			inter.AddCert(c)
		}
	}
	if anchor == nil {
		return &PinError{URL: where, Want: want, Got: wire.CertFingerprint(chain[len(chain)-1].Raw)}
	}
	if anchor == chain[0] {
		// A self-signed certificate pinned itself: still for this host.
		return chain[0].VerifyHostname(host)
	}
	roots := x509.NewCertPool()
	roots.AddCert(anchor)
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: host}); err != nil {
		return fmt.Errorf("the certificate of %s, from the pinned CA, is not valid for %s: %w (on the server, add the name with `quai serve --listen-name %s`)", where, host, err, host)
	}
	return nil
}

// remoteError classifies a failed round trip to the network API.
func (c *Client) remoteError(err error) error {
	var pe *PinError
	if errors.As(err, &pe) {
		return pe
	}
	var ue *x509.UnknownAuthorityError
	if errors.As(err, &ue) {
		return fmt.Errorf("the certificate of %s is not from a CA this machine trusts: pin the daemon's CA with `quai login %s --fingerprint sha256:...` (its fingerprint is in `quai info` on the server): %w", c.remote, c.remote, err)
	}
	var opErr *net.OpError
	var dnsErr *net.DNSError
	if errors.As(err, &opErr) || errors.As(err, &dnsErr) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) {
		if errors.Is(err, context.Canceled) {
			return err
		}
		return &RemoteError{URL: c.remote, Err: err}
	}
	return fmt.Errorf("quai daemon at %s: %w", c.remote, err)
}

// remoteHint names the command that logs in again on a remote 401.
func (c *Client) remoteHint(err error) error {
	var ae *APIError
	if c.remote != "" && errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		ae.Hint = "log in again: quai login " + c.remote + " (the token is missing, expired or revoked)"
	}
	return err
}

// authorize adds the bearer token of a remote client.
func (c *Client) authorize(req *http.Request) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
}

// Remote is the network API's URL, empty for a client of the socket.
func (c *Client) Remote() string { return c.remote }

// Where names the daemon the client talks to, for messages: its URL or
// its socket.
func (c *Client) Where() string {
	if c.remote != "" {
		return c.remote
	}
	return c.socket
}

// ServerCert is what a server presented, for trust on first use.
type ServerCert struct {
	// Fingerprint and PEM are those of the top of the presented chain:
	// quai's API CA, or the certificate itself when it is self-signed.
	Fingerprint string
	PEM         []byte
	// Subject, Names and NotAfter describe the server's own certificate.
	Subject  string
	Names    []string
	NotAfter time.Time
	// TrustedBySystem is true when the system's roots vouch for the
	// certificate (ACME): nothing needs pinning.
	TrustedBySystem bool
}

// ProbeTLS connects to the network API at rawURL and returns the
// certificate it presents, verifying nothing: the caller shows the
// fingerprint to the user, who decides (trust on first use).
func ProbeTLS(ctx context.Context, rawURL string) (ServerCert, error) {
	u, err := parseRemoteURL(rawURL)
	if err != nil {
		return ServerCert{}, err
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second},
		Config: &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname(), InsecureSkipVerify: true}} //nolint:gosec // the chain is shown to the user, who pins it
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return ServerCert{}, &RemoteError{URL: u.String(), Err: err}
	}
	defer func() { _ = conn.Close() }()
	chain := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(chain) == 0 {
		return ServerCert{}, fmt.Errorf("%s presented no certificate", u)
	}
	top, leaf := chain[len(chain)-1], chain[0]
	sc := ServerCert{
		Fingerprint: wire.CertFingerprint(top.Raw),
		PEM:         pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: top.Raw}),
		Subject:     top.Subject.String(),
		Names:       append(append([]string(nil), leaf.DNSNames...), ipStrings(leaf.IPAddresses)...),
		NotAfter:    leaf.NotAfter,
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Intermediates: inter, DNSName: u.Hostname()}); err == nil {
		sc.TrustedBySystem = true
	}
	return sc, nil
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

// Login exchanges a user's name and password for a token (POST /login).
func (c *Client) Login(ctx context.Context, req wire.LoginRequest) (wire.LoginResponse, error) {
	var v wire.LoginResponse
	err := c.postJSON(ctx, "/login", req, &v)
	return v, err
}

// HasUpload reports whether the daemon has the project upload hash of org.
func (c *Client) HasUpload(ctx context.Context, org, hash string) (bool, error) {
	q := url.Values{wire.UploadOrg: {org}}
	resp, err := c.do(ctx, http.MethodHead, wire.UploadsPath+"/"+url.PathEscape(hash), q, nil)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_ = resp.Body.Close()
	return true, nil
}

// Upload sends a project folder: gz is the gzip-compressed tar whose
// uncompressed content hashes to hash (wire.UploadHash).
func (c *Client) Upload(ctx context.Context, org, hash string, gz io.Reader) (wire.UploadResult, error) {
	u := c.base + wire.UploadsPath + "/" + url.PathEscape(hash) + "?" + url.Values{wire.UploadOrg: {org}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, gz)
	if err != nil {
		return wire.UploadResult{}, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-tar")
	req.Header.Set("Content-Encoding", "gzip")
	c.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return wire.UploadResult{}, c.transportError(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode >= 300 {
		return wire.UploadResult{}, c.remoteHint(decodeError(resp))
	}
	var v wire.UploadResult
	if err := decodeJSON(resp.Body, &v); err != nil {
		return wire.UploadResult{}, fmt.Errorf("decode the daemon's answer to the upload: %w", err)
	}
	return v, nil
}

func decodeJSON(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
