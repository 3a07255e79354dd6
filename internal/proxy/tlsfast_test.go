package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestHTTPSPaths: over HTTPS, HTTP/1.1 requests the fast path serves and
// those it hands to net/http (a route with rules, HTTP/2) all reach the app
// with X-Forwarded-Proto https and answer with the route's
// Strict-Transport-Security (the app's own replaced); the proxy's client
// connections are all released afterwards.
func TestHTTPSPaths(t *testing.T) {
	p := startProxy(t, t.TempDir())
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Proto", r.Header.Get("X-Forwarded-Proto"))
		w.Header().Set("Strict-Transport-Security", "max-age=1")
		_, _ = io.WriteString(w, "app")
	}))
	t.Cleanup(app.Close)
	certFile, keyFile, cert := selfSigned(t, "shop.example.com")
	mustSet(t, p, "shop",
		Route{Host: "shop.example.com", Targets: []string{addr(app)}, TLS: TLSCustom, CertFile: certFile, KeyFile: keyFile},
		Route{Host: "shop.example.com", Path: "/ruled", Targets: []string{addr(app)}, TLS: TLSCustom, CertFile: certFile, KeyFile: keyFile,
			Rules: &Rules{Headers: map[string]string{"X-Ruled": "yes"}}},
		Route{Host: "shop.example.com", Path: "/nohsts", Targets: []string{addr(app)}, TLS: TLSCustom, CertFile: certFile, KeyFile: keyFile,
			Rules: &Rules{Headers: map[string]string{"Strict-Transport-Security": ""}}},
	)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	for _, proto := range []string{"http/1.1", "h2"} {
		c := httpsClient(p, roots)
		tr := c.Transport.(*http.Transport)
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, NextProtos: []string{proto}}
		tr.ForceAttemptHTTP2 = proto == "h2"
		for _, tc := range []struct{ path, hsts, ruled string }{
			{"/", DefaultHSTS, ""},
			{"/ruled", DefaultHSTS, "yes"},
			{"/nohsts", "max-age=1", ""},
		} {
			for range 2 { // the second on a kept-alive connection
				resp, err := c.Get("https://shop.example.com" + tc.path)
				if err != nil {
					t.Fatalf("%s %s: %v", proto, tc.path, err)
				}
				body, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				name := proto + " " + tc.path
				expect(t, name+" protocol", resp.Proto, map[string]string{"http/1.1": "HTTP/1.1", "h2": "HTTP/2.0"}[proto])
				expect(t, name+" body", string(body), "app")
				expect(t, name+" forwarded proto", resp.Header.Get("X-Seen-Proto"), "https")
				expect(t, name+" HSTS", resp.Header.Get("Strict-Transport-Security"), tc.hsts)
				expect(t, name+" rule header", resp.Header.Get("X-Ruled"), tc.ruled)
			}
		}
		c.CloseIdleConnections()
	}
	for deadline := time.Now().Add(10 * time.Second); p.OpenConns() != 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	expect(t, "open connections once the clients closed theirs", p.OpenConns(), 0)
}
