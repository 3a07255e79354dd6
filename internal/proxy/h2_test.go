package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The HTTP/2 fast path (h2.go) is compared with net/http's HTTP/2 server
// behind the same proxy code: two proxies, one with the fast path and one
// handing every HTTP/2 connection to net/http (noFastH2), are sent the same
// header list on a new connection, in front of upstreams that record the
// request and answer the same bytes. What each upstream received and what
// each client got back must agree.

// h2Pair is a proxy with the HTTP/2 fast path and one without.
type h2Pair struct {
	fast, std *Proxy
	cert      *x509.Certificate
	certFile  string
	keyFile   string
}

const h2Host = "shop.example.com"

func newH2Pair(t testing.TB) *h2Pair {
	t.Helper()
	certFile, keyFile, cert := selfSigned(t, h2Host)
	pair := &h2Pair{fast: startProxy(t, t.TempDir()), cert: cert, certFile: certFile, keyFile: keyFile}
	std, err := New(Config{HTTPSAddr: "127.0.0.1:0", DataDir: t.TempDir(), ACMEDirectory: "https://127.0.0.1:1/directory"})
	if err != nil {
		t.Fatal(err)
	}
	std.noFastH2 = true
	if err := std.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = std.Shutdown(ctx)
	})
	pair.std = std
	return pair
}

// route points both proxies' routes at their own recording upstream
// answering resp, and returns the two upstreams.
func (pp *h2Pair) route(t testing.TB, resp string) (fast, std *recordingUpstream) {
	t.Helper()
	fast, std = newRecordingUpstream(t, resp), newRecordingUpstream(t, resp)
	mustSet(t, pp.fast, "shop", Route{Host: h2Host, Targets: []string{fast.addr}, TLS: TLSCustom, CertFile: pp.certFile, KeyFile: pp.keyFile})
	mustSet(t, pp.std, "shop", Route{Host: h2Host, Targets: []string{std.addr}, TLS: TLSCustom, CertFile: pp.certFile, KeyFile: pp.keyFile})
	return fast, std
}

// recordingUpstream answers every request with the same raw bytes and
// closes the connection, recording the request as it parsed it.
type recordingUpstream struct {
	addr string
	mu   sync.Mutex
	reqs []string
}

func newRecordingUpstream(t testing.TB, resp string) *recordingUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &recordingUpstream{addr: ln.Addr().String()}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				if req.URL.Path == h2WarmPath {
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
					return
				}
				body, _ := io.ReadAll(req.Body)
				if req.Header.Get("X-Forwarded-For") == "" {
					// Not from the proxy: something else on the
					// machine probing ports.
					return
				}
				u.mu.Lock()
				u.reqs = append(u.reqs, describeRequest(req, body))
				u.mu.Unlock()
				_, _ = io.WriteString(c, resp)
			}()
		}
	}()
	return u
}

func (u *recordingUpstream) requests() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.reqs)
}

// describeRequest prints what an upstream sees of a request, fields in a
// stable order.
func describeRequest(r *http.Request, body []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s host=%q len=%d te=%v body=%q\n", r.Method, r.RequestURI, r.Proto, r.Host, r.ContentLength, r.TransferEncoding, body)
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range r.Header {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&b, "%s: %q\n", k, r.Header[k])
	}
	return b.String()
}

// h2Outcome is what a client saw of one stream.
type h2Outcome struct {
	Status  string
	Header  []string // sorted "name: value", date only as present
	Body    string
	Trailer []string
	Reset   string // RST_STREAM code
	GoAway  bool   // the stream was refused by GOAWAY or the connection broke
}

func (o h2Outcome) String() string {
	return fmt.Sprintf("status=%s header=%q body=%q trailer=%q reset=%s goaway=%v", o.Status, o.Header, o.Body, o.Trailer, o.Reset, o.GoAway)
}

// h2WarmPath is the request h2DoSecond sends first; the recording
// upstreams answer it without recording it, and close.
const h2WarmPath = "/.warm"

// h2Do sends one request (a raw header list, END_STREAM set unless body is
// given) on a new connection to addr and reads what comes back.
func h2Do(t testing.TB, addr string, fields []hpack.HeaderField, body []byte) h2Outcome {
	t.Helper()
	return h2DoAfter(t, addr, nil, fields, body)
}

// h2DoSecond sends the request as the second stream of a connection, after
// a plain GET the fast path serves; a request refused by GOAWAY is sent
// again as the first of a new connection, as clients do.
func h2DoSecond(t testing.TB, addr string, fields []hpack.HeaderField, body []byte) h2Outcome {
	t.Helper()
	o := h2DoAfter(t, addr, h2Get(h2WarmPath), fields, body)
	if o.GoAway && o.Status == "" && o.Reset == "" {
		return h2Do(t, addr, fields, body)
	}
	return o
}

// h2DoAfter sends warm first, when set, and waits for its answer; trailer,
// when set, follows the body.
func h2DoAfter(t testing.TB, addr string, warm, fields []hpack.HeaderField, body []byte, trailer ...hpack.HeaderField) h2Outcome {
	t.Helper()
	tc, err := tls.Dial("tcp", addr, &tls.Config{ServerName: h2Host, InsecureSkipVerify: true, NextProtos: []string{"h2"}}) //nolint:gosec // a test's self-signed certificate
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tc.Close() }()
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if tc.ConnectionState().NegotiatedProtocol != "h2" {
		t.Fatal("h2 not negotiated")
	}
	bw := bufio.NewWriter(tc)
	_, _ = io.WriteString(bw, http2.ClientPreface)
	fr := http2.NewFramer(bw, bufio.NewReader(tc))
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	_ = fr.WriteSettings()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	sid := uint32(1)
	if warm != nil {
		for _, f := range warm {
			_ = enc.WriteField(f)
		}
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
		for warmed := false; !warmed; {
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("warm-up request: %v", err)
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					_ = fr.WriteSettingsAck()
					_ = bw.Flush()
				}
			case *http2.MetaHeadersFrame:
				warmed = f.StreamEnded()
			case *http2.DataFrame:
				warmed = f.StreamEnded()
			case *http2.RSTStreamFrame:
				warmed = true
			}
		}
		hb.Reset()
		sid = 3
	}
	for _, f := range fields {
		_ = enc.WriteField(f)
	}
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: sid, BlockFragment: hb.Bytes(), EndStream: body == nil, EndHeaders: true})
	for rest := body; rest != nil; {
		n := min(len(rest), 16384)
		_ = fr.WriteData(sid, n == len(rest) && trailer == nil, rest[:n])
		if rest = rest[n:]; len(rest) == 0 {
			rest = nil
		}
	}
	if trailer != nil {
		hb.Reset()
		for _, f := range trailer {
			_ = enc.WriteField(f)
		}
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: sid, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	var o h2Outcome
	var bodyBuf bytes.Buffer
	sawHeaders := false
	// Once the stream ended, a PING's answer shows that nothing more comes
	// on it.
	ended := false
	end := func() {
		o.Body = bodyBuf.String()
		ended = true
		_ = fr.WritePing(false, [8]byte{'e', 'n', 'd'})
		_ = bw.Flush()
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			o.GoAway = o.GoAway || !ended
			return o
		}
		if ended && f.Header().StreamID == sid {
			t.Errorf("frame after the end of the stream: %v", f)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
				_ = bw.Flush()
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID != sid {
				continue
			}
			var lines []string
			for _, hf := range f.Fields {
				switch hf.Name {
				case ":status":
					o.Status = hf.Value
					continue
				case "date":
					hf.Value = "(date)"
				}
				lines = append(lines, hf.Name+": "+hf.Value)
			}
			slices.Sort(lines)
			if !sawHeaders {
				sawHeaders, o.Header = true, lines
			} else {
				o.Trailer = lines
			}
			if f.StreamEnded() {
				end()
			}
		case *http2.DataFrame:
			if f.StreamID != sid {
				continue
			}
			bodyBuf.Write(f.Data())
			if n := len(f.Data()); n > 0 {
				_ = fr.WriteWindowUpdate(0, uint32(n))
				_ = fr.WriteWindowUpdate(sid, uint32(n))
				_ = bw.Flush()
			}
			if f.StreamEnded() {
				end()
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == sid && !ended {
				o.Reset = f.ErrCode.String()
				end()
			}
		case *http2.GoAwayFrame:
			if f.LastStreamID < sid {
				o.GoAway = true
				return o
			}
		case *http2.PingFrame:
			if f.IsAck() && ended {
				return o
			}
			if !f.IsAck() {
				_ = fr.WritePing(true, f.Data)
				_ = bw.Flush()
			}
		}
	}
}

// h2Fields builds a header list from "name: value" lines; the first colon
// after the first byte splits, so pseudo-headers read as ":path: /".
func h2Fields(lines ...string) []hpack.HeaderField {
	fs := make([]hpack.HeaderField, 0, len(lines))
	for _, l := range lines {
		i := strings.Index(l[1:], ": ") + 1
		fs = append(fs, hpack.HeaderField{Name: l[:i], Value: l[i+2:]})
	}
	return fs
}

func h2Get(path string, extra ...string) []hpack.HeaderField {
	return h2Fields(append([]string{":method: GET", ":scheme: https", ":authority: " + h2Host, ":path: " + path}, extra...)...)
}

// h2Compare sends the request to both proxies and fails on any
// difference; servedFast reports whether the fast path answered it (its
// upstream saw a request the other did too).
func h2Compare(t *testing.T, pp *h2Pair, fields []hpack.HeaderField, body []byte, resp string) {
	t.Helper()
	h2CompareWith(t, pp, fields, body, resp, h2Do)
	h2CompareWith(t, pp, fields, body, resp, h2DoSecond)
}

func h2CompareWith(t *testing.T, pp *h2Pair, fields []hpack.HeaderField, body []byte, resp string,
	do func(testing.TB, string, []hpack.HeaderField, []byte) h2Outcome) {
	t.Helper()
	fastUp, stdUp := pp.route(t, resp)
	got := do(t, pp.fast.HTTPSAddr(), fields, body)
	want := do(t, pp.std.HTTPSAddr(), fields, body)
	if got.Reset != "" && want.Reset != "" {
		// A response cut short (the upstream closed inside its body):
		// how much of it went out before the reset depends on buffering
		// — the fast path sends the head at once, net/http holds it until
		// the first body byte — and a client discards a reset response
		// either way. The reset itself must match.
		got.Status, want.Status = "", ""
		got.Header, want.Header = nil, nil
		got.Body, want.Body = "", ""
	}
	if got.Body == "" && want.Body == "" && !slices.ContainsFunc(got.Header, isContentLength) {
		// net/http adds "content-length: 0" to a body of unknown length
		// that turned out empty before the handler flushed: the same
		// message.
		want.Header = slices.DeleteFunc(want.Header, func(h string) bool { return h == "content-length: 0" })
	}
	switch {
	case got.String() == want.String():
	case fastRefuses(resp, fields) && (got.Status == "502" || got.Reset != ""):
		// The fast path refuses responses net/http reads in a way a
		// client could frame differently (FuzzFastResponse).
	default:
		t.Errorf("client saw\nfast path: %v\nnet/http:  %v", got, want)
	}
	// An upstream records the request just after answering it.
	for deadline := time.Now().Add(2 * time.Second); len(fastUp.requests()) != len(stdUp.requests()) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if f, s := fastUp.requests(), stdUp.requests(); !slices.Equal(f, s) {
		t.Errorf("upstream saw\nfast path: %q\nnet/http:  %q", f, s)
	}
}

func isContentLength(h string) bool { return strings.HasPrefix(h, "content-length:") }

// fastRefuses reports an upstream response the fast path's parsers refuse
// (readResponseHead, parseFastResponse, copyChunked).
func fastRefuses(raw string, fields []hpack.HeaderField) bool {
	ubr := bufio.NewReaderSize(strings.NewReader(raw), 8<<10)
	n, status, err := readResponseHead(ubr)
	if err != nil {
		return true
	}
	head, _ := ubr.Peek(n)
	head = bytes.Clone(head)
	resp, ok := parseFastResponse(head)
	if !ok {
		return true
	}
	_, _ = ubr.Discard(n)
	if slices.Contains(fields, hpack.HeaderField{Name: ":method", Value: "HEAD"}) || status == 204 || status == 304 || !resp.chunked {
		return false
	}
	_, err = copyChunked(bufio.NewWriter(io.Discard), ubr)
	return err != nil
}

const h2OK = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\nhello"

var h2Cases = []struct {
	name   string
	fields []hpack.HeaderField
	body   []byte
	resp   string
}{
	{"get", h2Get("/a/b?c=d%20e", "user-agent: t", "accept: */*"), nil, h2OK},
	{"head", h2Fields(":method: HEAD", ":scheme: https", ":authority: "+h2Host, ":path: /"), nil,
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"},
	{"post without body", h2Fields(":method: POST", ":scheme: https", ":authority: "+h2Host, ":path: /form"), nil, h2OK},
	{"post with body", h2Fields(":method: POST", ":scheme: https", ":authority: "+h2Host, ":path: /form", "content-length: 3"), []byte("a=b"), h2OK},
	{"put with body", h2Fields(":method: PUT", ":scheme: https", ":authority: "+h2Host, ":path: /doc", "content-length: 60000"),
		bytes.Repeat([]byte("x"), 60000), h2OK},
	{"body without length", h2Fields(":method: POST", ":scheme: https", ":authority: "+h2Host, ":path: /form"), []byte("a=b"), h2OK},
	{"body longer than its length", h2Fields(":method: POST", ":scheme: https", ":authority: "+h2Host, ":path: /form", "content-length: 3"), []byte("a=bc"), h2OK},
	{"body shorter than its length", h2Fields(":method: POST", ":scheme: https", ":authority: "+h2Host, ":path: /form", "content-length: 5"), []byte("a=b"), h2OK},
	{"empty body with a length", h2Fields(":method: POST", ":scheme: https", ":authority: "+h2Host, ":path: /form", "content-length: 0"), []byte{}, h2OK},
	{"cookies joined", h2Get("/", "cookie: a=1", "x-b: 1", "cookie: b=2", "x-b: 2"), nil, h2OK},
	{"dropped and forwarded fields", h2Get("/", "te: trailers", "x-forwarded-for: 10.0.0.1", "x-forwarded-host: evil",
		"x-forwarded-proto: http", "x-forwarded-port: 1", "proxy-authorization: x", "content-length: 0"), nil, h2OK},
	{"authority with port and dot", h2Fields(":method: GET", ":scheme: https", ":authority: "+h2Host+".:443", ":path: /"), nil, h2OK},
	{"percent in path", h2Get("/a%2Fb"), nil, h2OK},
	{"no route", h2Fields(":method: GET", ":scheme: https", ":authority: other.example.com", ":path: /"), nil, h2OK},
	{"connection header", h2Get("/", "connection: close"), nil, h2OK},
	{"host header", h2Get("/", "host: "+h2Host), nil, h2OK},
	{"upper-case name", h2Get("/", "X-Up: 1"), nil, h2OK},
	{"missing path", h2Fields(":method: GET", ":scheme: https", ":authority: "+h2Host), nil, h2OK},
	{"connect", h2Fields(":method: CONNECT", ":authority: "+h2Host+":443"), nil, h2OK},
	{"chunked with trailers", h2Get("/"), nil,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\nDate: x\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n"},
	{"chunked", h2Get("/"), nil, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nDate: x\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
	{"close-delimited", h2Get("/"), nil, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: x\r\n\r\nuntil the end"},
	{"no content", h2Get("/"), nil, "HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n"},
	{"not modified", h2Get("/"), nil, "HTTP/1.1 304 Not Modified\r\nEtag: \"x\"\r\nDate: x\r\n\r\n"},
	{"interim then final", h2Get("/"), nil, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + h2OK},
	{"hop-by-hop response fields", h2Get("/"), nil,
		"HTTP/1.1 200 OK\r\nConnection: x-hop, keep-alive\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nX-Kept: 2\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\nDate: x\r\n\r\n"},
	{"upstream hsts replaced", h2Get("/"), nil, "HTTP/1.1 200 OK\r\nStrict-Transport-Security: max-age=1\r\nContent-Length: 0\r\nDate: x\r\n\r\n"},
	{"no date from upstream", h2Get("/"), nil, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
	{"broken upstream", h2Get("/"), nil, "HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n"},
	{"upstream says nothing", h2Get("/"), nil, ""},
	{"large body", h2Get("/"), nil, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nDate: x\r\n\r\n" + strings.Repeat("0123456789", 10000)},
}

func TestH2FastPathMatchesNetHTTP(t *testing.T) {
	pp := newH2Pair(t)
	for _, tc := range h2Cases {
		t.Run(tc.name, func(t *testing.T) { h2Compare(t, pp, tc.fields, tc.body, tc.resp) })
	}
}

// FuzzH2Request sends header lists and upstream responses made of the fuzz
// input to both proxies: lines "name: value" (pseudo-headers first), a
// blank line, then the raw upstream response.
func FuzzH2Request(f *testing.F) {
	for _, tc := range h2Cases {
		if tc.body != nil {
			continue
		}
		var b strings.Builder
		for _, hf := range tc.fields {
			b.WriteString(hf.Name + ": " + hf.Value + "\n")
		}
		b.WriteString("\n" + tc.resp)
		f.Add(b.String())
	}
	pp := newH2Pair(f)
	f.Fuzz(func(t *testing.T, in string) {
		head, resp, _ := strings.Cut(in, "\n\n")
		var fields []hpack.HeaderField
		for _, l := range strings.Split(head, "\n") {
			if len(l) < 2 || !strings.Contains(l[1:], ": ") {
				continue
			}
			fields = append(fields, h2Fields(l)...)
		}
		if len(fields) == 0 || len(fields) > 64 || len(in) > 8<<10 {
			return
		}
		start := time.Now()
		h2Compare(t, pp, fields, nil, resp)
		if d := time.Since(start); d > 3*time.Second {
			t.Logf("slow: %v for %q", d, in)
		}
	})
}

// TestH2RefusedStreamsRetried: on a connection the fast path serves, a
// request it leaves to net/http (a body, a route with rules) is refused by
// GOAWAY and retried by the client on a new connection, which net/http
// serves; requests before and after it succeed, and every connection is
// released at the end.
func TestH2RefusedStreamsRetried(t *testing.T) {
	p := startProxy(t, t.TempDir())
	var seen atomic.Int32
	app := newRecordingApp(t, &seen)
	certFile, keyFile, cert := selfSigned(t, h2Host)
	mustSet(t, p, "shop",
		Route{Host: h2Host, Targets: []string{app}, TLS: TLSCustom, CertFile: certFile, KeyFile: keyFile},
		Route{Host: h2Host, Path: "/ruled", Targets: []string{app}, TLS: TLSCustom, CertFile: certFile, KeyFile: keyFile,
			Rules: &Rules{Headers: map[string]string{"X-Ruled": "yes"}}},
	)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	c := httpsClient(p, roots)
	for i, step := range []struct{ method, path, body, want string }{
		{"GET", "/", "", "GET / 0"},
		{"POST", "/form", "a=b", "POST /form 3"},
		{"GET", "/", "", "GET / 0"},
		{"GET", "/ruled", "", "GET /ruled 0"},
		{"GET", "/", "", "GET / 0"},
	} {
		var rd io.Reader
		if step.body != "" {
			rd = strings.NewReader(step.body)
		}
		req, _ := http.NewRequest(step.method, "https://"+h2Host+step.path, rd)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("step %d %s %s: %v", i, step.method, step.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		expect(t, fmt.Sprintf("step %d protocol", i), resp.Proto, "HTTP/2.0")
		expect(t, fmt.Sprintf("step %d answer", i), string(b), step.want)
	}
	expect(t, "requests the app saw", seen.Load(), 5)
	// Each route counts its own, whichever server answered; a request is
	// counted just after its response went out.
	counts := func() map[string]uint64 {
		m := map[string]uint64{}
		for _, rs := range p.Stats() {
			m[rs.Path] = rs.Responses[2]
		}
		return m
	}
	want := map[string]uint64{"/": 4, "/ruled": 1}
	for deadline := time.Now().Add(5 * time.Second); fmt.Sprint(counts()) != fmt.Sprint(want) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	expect(t, "2xx per route", counts(), want)
	c.CloseIdleConnections()
	for deadline := time.Now().Add(10 * time.Second); p.OpenConns() != 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	expect(t, "open connections once the client closed its", p.OpenConns(), 0)
}

// newRecordingApp answers "METHOD PATH BODYLEN" and counts requests.
func newRecordingApp(t *testing.T, seen *atomic.Int32) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		b, _ := io.ReadAll(r.Body)
		_, _ = fmt.Fprintf(w, "%s %s %d", r.Method, r.URL.Path, len(b))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// TestH2ShutdownDrains: Shutdown lets a stream the fast path is serving
// finish, tells the client with GOAWAY that nothing new is taken, and
// returns once the connection is done.
func TestH2ShutdownDrains(t *testing.T) {
	p, err := New(Config{HTTPSAddr: "127.0.0.1:0", DataDir: t.TempDir(), ACMEDirectory: "https://127.0.0.1:1/directory"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			once.Do(func() { close(started) })
			<-release
		}
		_, _ = io.WriteString(w, "done "+r.URL.Path)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	certFile, keyFile, cert := selfSigned(t, h2Host)
	mustSet(t, p, "shop", Route{Host: h2Host, Targets: []string{ln.Addr().String()}, TLS: TLSCustom, CertFile: certFile, KeyFile: keyFile})
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	c := httpsClient(p, roots)
	warm, err := c.Get("https://" + h2Host + "/warm")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, warm.Body)
	_ = warm.Body.Close()
	type reply struct {
		body string
		err  error
	}
	replies := make(chan reply, 1)
	go func() {
		resp, err := c.Get("https://" + h2Host + "/slow")
		if err != nil {
			replies <- reply{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		replies <- reply{string(b), err}
	}()
	<-started
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- p.Shutdown(ctx)
	}()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while a stream was in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	r := <-replies
	if r.err != nil {
		t.Fatalf("in-flight request: %v", r.err)
	}
	expect(t, "in-flight request", r.body, "done /slow")
	c.CloseIdleConnections()
	if err := <-shut; err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	expect(t, "open connections after shutdown", p.OpenConns(), 0)
}

// TestH2ClientGoneReleasesTarget: a client that resets its stream, or
// closes its connection, while the upstream has not answered yet aborts
// the upstream exchange (on a pooled connection, whose failure would
// otherwise be retried) and leaves nothing in flight, so a drain does not
// wait for it.
func TestH2ClientGoneReleasesTarget(t *testing.T) {
	for _, how := range []string{"reset", "close"} {
		t.Run(how, func(t *testing.T) {
			p := startProxy(t, t.TempDir())
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ln.Close() })
			hanging := make(chan struct{}, 1)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						defer func() { _ = c.Close() }()
						br := bufio.NewReader(c)
						for {
							req, err := http.ReadRequest(br)
							if err != nil {
								return
							}
							if req.URL.Path == "/hang" {
								hanging <- struct{}{}
								_, _ = io.Copy(io.Discard, br) // until the proxy closes
								return
							}
							_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
						}
					}()
				}
			}()
			certFile, keyFile, _ := selfSigned(t, h2Host)
			mustSet(t, p, "shop", Route{Host: h2Host, Targets: []string{ln.Addr().String()}, TLS: TLSCustom, CertFile: certFile, KeyFile: keyFile})
			// A first request leaves a pooled upstream connection.
			if o := h2Do(t, p.HTTPSAddr(), h2Get("/"), nil); o.Status != "200" {
				t.Fatalf("first request: %v", o)
			}
			tc, err := tls.Dial("tcp", p.HTTPSAddr(), &tls.Config{ServerName: h2Host, InsecureSkipVerify: true, NextProtos: []string{"h2"}}) //nolint:gosec // a test's self-signed certificate
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tc.Close() }()
			bw := bufio.NewWriter(tc)
			_, _ = io.WriteString(bw, http2.ClientPreface)
			fr := http2.NewFramer(bw, tc)
			_ = fr.WriteSettings()
			var hb bytes.Buffer
			enc := hpack.NewEncoder(&hb)
			for _, f := range h2Get("/hang") {
				_ = enc.WriteField(f)
			}
			_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
			_ = bw.Flush()
			select {
			case <-hanging:
			case <-time.After(5 * time.Second):
				t.Fatal("the request did not reach the upstream")
			}
			if how == "reset" {
				_ = fr.WriteRSTStream(1, http2.ErrCodeCancel)
				_ = bw.Flush()
			} else {
				_ = tc.Close()
			}
			inFlight := func() int64 {
				var n int64
				for _, rs := range p.Stats() {
					n += rs.InFlight
				}
				return n
			}
			for deadline := time.Now().Add(5 * time.Second); inFlight() != 0 && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			expect(t, "requests in flight once the client is gone", inFlight(), 0)
		})
	}
}

// TestH2RequestTrailersRefused: request trailers are net/http's to take; a
// stream with a body that the fast path accepted and that then sends
// trailers has not reached the upstream yet, so it is refused
// (REFUSED_STREAM, with GOAWAY) for the client to retry on a new
// connection, where net/http serves it.
func TestH2RequestTrailersRefused(t *testing.T) {
	pp := newH2Pair(t)
	up, _ := pp.route(t, h2OK)
	fields := h2Fields(":method: POST", ":scheme: https", ":authority: "+h2Host, ":path: /form", "content-length: 3")
	trailer := h2Fields("x-sum: 3")
	o := h2DoAfter(t, pp.fast.HTTPSAddr(), h2Get(h2WarmPath), fields, []byte("abc"), trailer...)
	expect(t, "stream reset", o.Reset, "REFUSED_STREAM")
	expect(t, "requests the upstream saw", len(up.requests()), 0)
	retried := h2DoAfter(t, pp.fast.HTTPSAddr(), nil, fields, []byte("abc"), trailer...)
	expect(t, "status on a new connection", retried.Status, "200")
	expect(t, "requests the upstream saw after the retry", len(up.requests()), 1)
}
