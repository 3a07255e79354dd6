package proxy

import (
	"bytes"
	"compress/gzip"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// seenBackend answers with what it saw of the request: its X-Forwarded-User,
// X-Auth-User and Authorization headers and the body's length.
func seenBackend(t testing.TB) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Seen-User", r.Header.Get("X-Forwarded-User"))
		w.Header().Set("X-Seen-Auth-User", r.Header.Get("X-Auth-User"))
		w.Header().Set("X-Seen-Authorization", r.Header.Get("Authorization"))
		_, _ = fmt.Fprintf(w, "ok %d", n)
	}))
	t.Cleanup(s.Close)
	return s
}

// getWith sends GET / for host with the header name/value pairs whose
// value is not empty, and returns the response's status and header.
func getWith(t *testing.T, c *http.Client, proxyAddr, host string, headers ...string) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+proxyAddr+"/", nil)
	req.Host = host
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] != "" {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func TestRulesAllowDeny(t *testing.T) {
	p := startProxy(t, "")
	b := seenBackend(t)
	mustSet(t, p, "acl",
		Route{Host: "in.localhost", Targets: []string{addr(b)}, Rules: &Rules{Allow: []string{"127.0.0.0/8"}, Deny: []string{"127.0.0.2"}}},
		Route{Host: "out.localhost", Targets: []string{addr(b)}, Rules: &Rules{Allow: []string{"10.0.0.0/8", "2001:db8::/32"}}},
		Route{Host: "denied.localhost", Targets: []string{addr(b)}, Rules: &Rules{Deny: []string{"127.0.0.1"}}},
		// The client claims 10.1.2.3; only a trusted peer may say so.
		Route{Host: "xff.localhost", Targets: []string{addr(b)}, Rules: &Rules{Allow: []string{"10.0.0.0/8"}, TrustedProxies: []string{"127.0.0.1"}}},
		Route{Host: "xff-untrusted.localhost", Targets: []string{addr(b)}, Rules: &Rules{Allow: []string{"10.0.0.0/8"}, TrustedProxies: []string{"192.0.2.0/24"}}},
	)
	c := newClient()
	for _, tc := range []struct {
		host string
		xff  string
		want int
	}{
		{"in.localhost", "", 200},
		{"out.localhost", "", 403},
		{"denied.localhost", "", 403},
		{"xff.localhost", "10.1.2.3", 200},
		{"xff.localhost", "10.1.2.3, 127.0.0.1", 200}, // trusted hops are skipped
		{"xff.localhost", "198.51.100.1", 403},
		{"xff.localhost", "10.1.2.3, 198.51.100.1", 403}, // the right-most untrusted one counts
		{"xff.localhost", "garbage", 403},
		{"xff-untrusted.localhost", "10.1.2.3", 403},
	} {
		status, _ := getWith(t, c, p.HTTPAddr(), tc.host, "X-Forwarded-For", tc.xff)
		expect(t, tc.host+" xff="+tc.xff, status, tc.want)
	}
}

func TestRulesRejectsBadLists(t *testing.T) {
	p := startProxy(t, "")
	for _, r := range []*Rules{
		{Allow: []string{"10.0.0.0/33"}},
		{Deny: []string{""}},
		{TrustedProxies: []string{"fe80::1%eth0"}},
		{BasicAuth: &BasicAuth{Users: "alice:secret"}},
		{ForwardAuth: &ForwardAuth{URL: "ftp://x"}},
		{RateLimit: &RateLimit{PerSecond: 0}},
		{Compress: []string{"br"}},
		{Headers: map[string]string{"Bad Header": "x"}},
		{RedirectFrom: []string{"a.localhost"}},
	} {
		if err := p.SetRoutes("bad", []Route{{Host: "a.localhost", Targets: []string{"127.0.0.1:1"}, Rules: r}}); err == nil {
			t.Errorf("rules %+v accepted", r)
		}
	}
}

func basicHeader(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func argonHash(t testing.TB, pass string) string {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(pass), salt, 1, 64, 1, 32)
	return fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s", base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

func TestRulesBasicAuth(t *testing.T) {
	p := startProxy(t, "")
	b := seenBackend(t)
	bh, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users := "# admins\nalice:" + string(bh) + "\n\nbob:" + argonHash(t, "hunter2") + "\n"
	mustSet(t, p, "auth", Route{Host: "auth.localhost", Targets: []string{addr(b)}, Rules: &Rules{BasicAuth: &BasicAuth{Users: users, Realm: "Admin"}}})
	c := newClient()
	for _, tc := range []struct {
		name, auth string
		want       int
		user       string
	}{
		{"none", "", 401, ""},
		{"bcrypt", basicHeader("alice", "s3cret"), 200, "alice"},
		{"bcrypt cached", basicHeader("alice", "s3cret"), 200, "alice"},
		{"argon2id", basicHeader("bob", "hunter2"), 200, "bob"},
		{"wrong password", basicHeader("alice", "nope"), 401, ""},
		{"unknown user", basicHeader("carol", "s3cret"), 401, ""},
		{"other user's password", basicHeader("bob", "s3cret"), 401, ""},
		{"not basic", "Bearer abc", 401, ""},
	} {
		status, h := getWith(t, c, p.HTTPAddr(), "auth.localhost", "X-Forwarded-User", "forged", "Authorization", tc.auth)
		expect(t, tc.name+" status", status, tc.want)
		if tc.want == 401 {
			expect(t, tc.name+" challenge", h.Get("WWW-Authenticate"), `Basic realm="Admin", charset="UTF-8"`)
			continue
		}
		expect(t, tc.name+" user seen by the app", h.Get("X-Seen-User"), tc.user)
		expect(t, tc.name+" password kept from the app", h.Get("X-Seen-Authorization"), "")
	}
}

// TestRulesForwardAuth runs a real authenticator server: it lets in a
// request with the cookie "session=good" and answers it with the user's
// name, sends others to a login page, and never answers "slow" requests.
func TestRulesForwardAuth(t *testing.T) {
	var calls atomic.Int64
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("X-Forwarded-Uri") == "/slow" {
			<-r.Context().Done()
			return
		}
		if c, err := r.Cookie("session"); err == nil && c.Value == "good" {
			if r.Header.Get("X-Forwarded-Method") != "POST" || r.Header.Get("X-Forwarded-Host") != "fa.localhost" {
				http.Error(w, "bad forwarded headers: "+r.Header.Get("X-Forwarded-Method"), 500)
				return
			}
			w.Header().Set("X-Auth-User", "alice@example.com")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Location", "https://login.example.com/?rd="+r.Header.Get("X-Forwarded-Uri"))
		w.Header().Set("Set-Cookie", "csrf=1")
		w.WriteHeader(http.StatusFound)
		_, _ = io.WriteString(w, strings.Repeat("x", 2*maxAuthBody))
	}))
	t.Cleanup(auth.Close)
	// The authenticator is an httptest server on loopback, which only
	// this test-only setting lets the proxy call.
	p := startProxyConfig(t, Config{HTTPAddr: "127.0.0.1:0", ForwardAuthLoopback: true})
	b := seenBackend(t)
	rules := &Rules{ForwardAuth: &ForwardAuth{URL: auth.URL + "/oauth2/auth", CopyHeaders: []string{"X-Auth-User"}, Timeout: 300 * time.Millisecond}}
	mustSet(t, p, "fa", Route{Host: "fa.localhost", Targets: []string{addr(b)}, Rules: rules})
	dead := &Rules{ForwardAuth: &ForwardAuth{URL: "http://" + deadAddr(t) + "/auth"}}
	mustSet(t, p, "fa-dead", Route{Host: "dead.localhost", Targets: []string{addr(b)}, Rules: dead})

	send := func(host, path, cookie string) (int, http.Header, string) {
		req, _ := http.NewRequest("POST", "http://"+p.HTTPAddr()+path, strings.NewReader("body"))
		req.Host = host
		req.Header.Set("X-Auth-User", "forged")
		if cookie != "" {
			req.Header.Set("Cookie", "session="+cookie)
		}
		resp, err := newClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, resp.Header, string(body)
	}
	status, h, body := send("fa.localhost", "/app", "good")
	expect(t, "authorised status", status, 200)
	expect(t, "authorised body", body, "ok 4")
	expect(t, "header copied from the authenticator", h.Get("X-Seen-Auth-User"), "alice@example.com")

	status, h, body = send("fa.localhost", "/app", "bad")
	expect(t, "refused status", status, http.StatusFound)
	expect(t, "refused location", h.Get("Location"), "https://login.example.com/?rd=/app")
	expect(t, "refused cookie", h.Get("Set-Cookie"), "csrf=1")
	expect(t, "refused body bounded", len(body), maxAuthBody)

	status, _, _ = send("fa.localhost", "/slow", "good")
	expect(t, "authenticator too slow: fail closed", status, http.StatusGatewayTimeout)
	status, _, _ = send("dead.localhost", "/", "good")
	expect(t, "authenticator down: fail closed", status, http.StatusBadGateway)
	if calls.Load() < 3 {
		t.Errorf("the authenticator was asked %d times", calls.Load())
	}
}

func TestRulesRateLimit(t *testing.T) {
	p := startProxy(t, "")
	b := seenBackend(t)
	mustSet(t, p, "rl", Route{Host: "rl.localhost", Targets: []string{addr(b)}, Rules: &Rules{RateLimit: &RateLimit{PerSecond: 0.5, Burst: 3}}})
	c := newClient()
	var codes []int
	var retry string
	for range 5 {
		status, _, h := get(t, c, p.HTTPAddr(), "rl.localhost", "/")
		codes = append(codes, status)
		if status == http.StatusTooManyRequests {
			retry = h.Get("Retry-After")
		}
	}
	expect(t, "statuses", codes, []int{200, 200, 200, 429, 429})
	if n, err := strconv.Atoi(retry); err != nil || n < 1 || n > 2 {
		t.Errorf("Retry-After %q, want 1 or 2 seconds", retry)
	}
	// Setting the same limit again keeps the buckets: still limited.
	mustSet(t, p, "rl", Route{Host: "rl.localhost", Targets: []string{addr(b)}, Rules: &Rules{RateLimit: &RateLimit{PerSecond: 0.5, Burst: 3}}})
	status, _, _ := get(t, c, p.HTTPAddr(), "rl.localhost", "/")
	expect(t, "after an identical table swap", status, 429)
}

func TestRateLimiterBounded(t *testing.T) {
	l := newRateLimiter(&RateLimit{PerSecond: 1, Burst: 1})
	now := time.Now()
	for i := range rateShards * rateShardCap * 2 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if ok, _ := l.allow(a, now); !ok {
			t.Fatalf("a new client %s was refused", a)
		}
	}
	if n := l.size(); n > rateShards*rateShardCap {
		t.Errorf("%d buckets held, bound %d", n, rateShards*rateShardCap)
	}
	// IPv6 clients share their /64.
	a1, a2 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	if ok, _ := l.allow(a1, now); !ok {
		t.Fatal("first request refused")
	}
	if ok, _ := l.allow(a2, now); ok {
		t.Error("another address of the same /64 got its own bucket")
	}
}

func TestRulesMaxBody(t *testing.T) {
	p := startProxy(t, "")
	b := seenBackend(t)
	mustSet(t, p, "mb", Route{Host: "mb.localhost", Targets: []string{addr(b)}, Rules: &Rules{MaxBody: 10}})
	c := newClient()
	status, body, _ := do(t, c, "POST", p.HTTPAddr(), "mb.localhost", "/", "0123456789")
	expect(t, "at the limit", status, 200)
	expect(t, "at the limit body", body, "ok 10")
	status, _, _ = do(t, c, "POST", p.HTTPAddr(), "mb.localhost", "/", "0123456789A")
	expect(t, "over the limit (Content-Length)", status, 413)
	// A chunked body has no length to check first.
	req, _ := http.NewRequest("POST", "http://"+p.HTTPAddr()+"/", io.MultiReader(strings.NewReader(strings.Repeat("x", 100))))
	req.Host = "mb.localhost"
	req.ContentLength = -1
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	expect(t, "over the limit (chunked)", resp.StatusCode, 413)
}

func TestRulesHeadersAndHSTS(t *testing.T) {
	dir := t.TempDir()
	p := startProxy(t, dir)
	b := backend(t, "site")
	certFile, keyFile, cert := selfSigned(t, "site.example.com")
	mustSet(t, p, "h",
		Route{Host: "site.example.com", Targets: []string{addr(b)}, TLS: TLSCustom, CertFile: certFile, KeyFile: keyFile},
		Route{Host: "nohsts.example.com", Targets: []string{addr(b)}, TLS: TLSCustom, CertFile: certFile, KeyFile: keyFile,
			Rules: &Rules{Headers: map[string]string{"Strict-Transport-Security": "", "X-Frame-Options": "DENY", "X-Backend": ""}}},
		Route{Host: "app.localhost", Targets: []string{addr(b)}, Rules: &Rules{Headers: map[string]string{"X-Frame-Options": "SAMEORIGIN"}}},
	)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	c := httpsClient(p, roots)
	c.Transport.(*http.Transport).TLSClientConfig.InsecureSkipVerify = true // one certificate for two names
	check := func(url string) http.Header {
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.Header
	}
	h := check("https://site.example.com/")
	expect(t, "default HSTS", h.Get("Strict-Transport-Security"), DefaultHSTS)
	h = check("https://nohsts.example.com/")
	expect(t, "HSTS turned off", h.Get("Strict-Transport-Security"), "")
	expect(t, "extra header", h.Get("X-Frame-Options"), "DENY")
	expect(t, "header removed", h.Get("X-Backend"), "")
	_, _, h = get(t, newClient(), p.HTTPAddr(), "app.localhost", "/")
	expect(t, "plain HTTP header", h.Get("X-Frame-Options"), "SAMEORIGIN")
	expect(t, "no HSTS over plain HTTP", h.Get("Strict-Transport-Security"), "")
}

func TestRulesRedirectHosts(t *testing.T) {
	p := startProxy(t, "")
	b := backend(t, "apex")
	mustSet(t, p, "r", Route{Host: "shop.localhost", Targets: []string{addr(b)}, Rules: &Rules{RedirectFrom: []string{"www.shop.localhost"}}})
	_, port, _ := strings.Cut(p.HTTPAddr(), ":")
	status, _, h := get(t, newClient(), p.HTTPAddr(), "www.shop.localhost:"+port, "/a?b=c")
	expect(t, "redirect status", status, http.StatusPermanentRedirect)
	expect(t, "redirect location", h.Get("Location"), "http://shop.localhost:"+port+"/a?b=c")
	status, body, _ := get(t, newClient(), p.HTTPAddr(), "shop.localhost", "/a")
	expect(t, "canonical host", status, 200)
	expect(t, "canonical body", body, "apex")
	// The redirect host is taken like any route.
	if err := p.SetRoutes("other", []Route{{Host: "www.shop.localhost", Targets: []string{addr(b)}}}); err == nil {
		t.Error("another instance took the redirect's host")
	}
	if got := p.Snapshot()["r"]; len(got) != 1 {
		t.Errorf("snapshot holds %d routes, want the one declared", len(got))
	}
}

// compressBackend serves 16 KiB of HTML, a PNG, a small text and a body
// the app compressed itself.
func compressBackend(t testing.TB) *httptest.Server {
	html := sampleHTML()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/page.html":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("ETag", `"v1"`)
			_, _ = w.Write(html)
		case "/image.png":
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(html)
		case "/small.txt":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("tiny"))
		case "/pre.js":
			w.Header().Set("Content-Type", "text/javascript")
			w.Header().Set("Content-Encoding", "br")
			_, _ = w.Write(html[:2000])
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func TestRulesCompress(t *testing.T) {
	p := startProxy(t, "")
	b := compressBackend(t)
	mustSet(t, p, "c", Route{Host: "c.localhost", Targets: []string{addr(b)}, Rules: &Rules{Compress: []string{EncodingZstd, EncodingGzip}}})
	// A transport that does not add Accept-Encoding or decode by itself.
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	fetch := func(path, accept string) (http.Header, []byte) {
		req, _ := http.NewRequest("GET", "http://"+p.HTTPAddr()+path, nil)
		req.Host = "c.localhost"
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header, body
	}
	_, plain := fetch("/page.html", "")
	expect(t, "identity length", len(plain), 16<<10)
	for _, tc := range []struct{ accept, want string }{
		{"gzip, deflate, br, zstd", "zstd"},
		{"gzip", "gzip"},
		{"zstd;q=0.5, gzip", "gzip"},
		{"*", "zstd"},
		{"gzip;q=0, zstd;q=0", ""},
		{"br", ""},
	} {
		h, body := fetch("/page.html", tc.accept)
		expect(t, tc.accept+": encoding", h.Get("Content-Encoding"), tc.want)
		expect(t, tc.accept+": vary", h.Get("Vary"), "Accept-Encoding")
		var got []byte
		switch tc.want {
		case "zstd":
			d, err := zstd.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			got, err = io.ReadAll(d)
			d.Close()
			if err != nil {
				t.Fatal(err)
			}
		case "gzip":
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if got, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		default:
			got = body
		}
		if !bytes.Equal(got, plain) {
			t.Errorf("%s: decoded body differs (%d bytes, want %d)", tc.accept, len(got), len(plain))
		}
		if tc.want != "" {
			if len(body) > len(plain)/2 {
				t.Errorf("%s: %d bytes compressed from %d", tc.want, len(body), len(plain))
			}
			expect(t, tc.want+" etag weakened", h.Get("ETag"), `W/"v1"`)
		}
	}
	for _, path := range []string{"/image.png", "/small.txt", "/pre.js"} {
		h, _ := fetch(path, "zstd, gzip")
		want := ""
		if path == "/pre.js" {
			want = "br"
		}
		expect(t, path+" left alone", h.Get("Content-Encoding"), want)
	}
}

// sampleHTML is 16 KiB of HTML-like text: tags around words drawn
// pseudo-randomly from a small vocabulary, so that it compresses about as
// well as a real page (3-4×), not as well as one sentence repeated.
func sampleHTML() []byte {
	words := strings.Fields("the quai proxy routes requests to healthy replicas of each service and drains old targets after a switchover while " +
		"access rules per route decide who gets in compression saves bytes on text responses sealed secrets hold the users of basic auth " +
		"order invoice customer product price total shipping address account settings dashboard report")
	var b bytes.Buffer
	b.WriteString("<!doctype html><html><head><title>quai</title></head><body>\n")
	x := uint32(2463534242)
	for b.Len() < 16<<10 {
		b.WriteString(`<div class="row"><p>`)
		for range 12 {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			b.WriteString(words[int(x%uint32(len(words)))])
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "</p><span id=\"n%d\">%d</span></div>\n", x%10000, x%997)
	}
	return b.Bytes()[:16<<10]
}
