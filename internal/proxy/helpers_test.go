package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// startProxy runs a proxy on loopback with HTTP only, or HTTP and HTTPS
// when dataDir is not empty.
func startProxy(t testing.TB, dataDir string) *Proxy {
	t.Helper()
	cfg := Config{HTTPAddr: "127.0.0.1:0", DataDir: dataDir}
	if dataDir != "" {
		cfg.HTTPSAddr = "127.0.0.1:0"
		// Routes of real domains with tls auto start ACME at once: at a
		// CA nothing answers, never Let's Encrypt's.
		cfg.ACMEDirectory = "https://127.0.0.1:1/directory"
	}
	return startProxyConfig(t, cfg)
}

// startProxyConfig runs a proxy configured by cfg until the test ends.
func startProxyConfig(t testing.TB, cfg Config) *Proxy {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return p
}

// backend is an httptest server that answers with its name, so tests can
// see which target served a request.
func backend(t testing.TB, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		_, _ = io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	return s
}

func addr(s *httptest.Server) string { return s.Listener.Addr().String() }

// get sends a request for host and path through the proxy at proxyAddr.
func get(t testing.TB, c *http.Client, proxyAddr, host, path string) (int, string, http.Header) {
	t.Helper()
	return do(t, c, http.MethodGet, proxyAddr, host, path, "")
}

func do(t testing.TB, c *http.Client, method, proxyAddr, host, path, body string) (int, string, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+proxyAddr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, host, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s%s: reading body: %v", method, host, path, err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return a
}

func mustSet(t testing.TB, p *Proxy, instance string, routes ...Route) {
	t.Helper()
	if err := p.SetRoutes(instance, routes); err != nil {
		t.Fatal(err)
	}
}

func newClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 64},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func expect(t testing.TB, what string, got, want any) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}
