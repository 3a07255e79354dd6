package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// requestSeeds are raw requests as clients send them: the wire cases of
// fast_test.go and the classic ways of smuggling a second request past a
// proxy that frames a message differently from the server behind it.
var requestSeeds = []string{
	"GET /p?q=1 HTTP/1.1\r\nHost: a.localhost\r\n\r\n",
	"GET /1 HTTP/1.1\r\nHost: a.localhost\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: a.localhost\r\n\r\n",
	"GET /old HTTP/1.0\r\nHost: a.localhost\r\n\r\n",
	"POST /c HTTP/1.1\r\nHost: a.localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	"PUT /e HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi",
	"GET /big HTTP/1.1\r\nHost: a.localhost\r\nX-Long: " + strings.Repeat("x", 6000) + "\r\n\r\n",
	"GET /a%2Fb HTTP/1.1\r\nHost: a.localhost\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: A.LOCALHOST\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
	"GET / HTTP/1.1\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a.localhost\r\nX-A: 1\r\n continued\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a.localhost\r\nX-A: 1\nX-B: 2\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a.localhost\r\nConnection: close\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a.localhost\r\nConnection: keep-alive, close\r\n\r\n",
	"GET /ws HTTP/1.1\r\nHost: a.localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a.localhost\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a.localhost.:80\r\n\r\n",
	// CL.TE and TE.CL.
	"POST / HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
	"POST / HTTP/1.1\r\nHost: a.localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
	// Obfuscated Transfer-Encoding.
	"POST / HTTP/1.1\r\nHost: a.localhost\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a.localhost\r\nTransfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a.localhost\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a.localhost\r\nTransfer-Encoding\r\n : chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a.localhost\r\nX: x\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a.localhost\r\nX: x\rTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a.localhost\r\nTransfer-encoding: identity\r\n\r\n",
	// Ambiguous lengths.
	"POST / HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: +5\r\n\r\nhello",
	"POST / HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 5, 5\r\n\r\nhello",
	"POST / HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
	"POST / HTTP/1.1\r\nHost: a.localhost\r\n Content-Length: 5\r\n\r\nhello",
	"POST / HTTP/1.1\r\nHost: a.localhost\r\nContent-Length : 5\r\n\r\nhello",
	"POST / HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 0x5\r\n\r\nhello",
	"POST / HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 007\r\n\r\nhello12",
	"POST / HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 99999999999999999999\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: \r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 44\r\n\r\nGET /admin HTTP/1.1\r\nHost: a.localhost\r\n\r\n",
	// Ambiguous hosts and targets.
	"GET / HTTP/1.1\r\nHost: a.localhost\r\nhost: evil.localhost\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: evil/../a.localhost\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: evil@a.localhost\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x y.a.localhost\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a.localhost\x00evil\r\n\r\n",
	"GET http://evil.localhost/ HTTP/1.1\r\nHost: a.localhost\r\n\r\n",
	"GET /a#b HTTP/1.1\r\nHost: a.localhost\r\n\r\n",
	"GET /\xff HTTP/1.1\r\nHost: a.localhost\r\n\r\n",
	"GET //evil.localhost/x HTTP/1.1\r\nHost: a.localhost\r\n\r\n",
	"CONNECT /x HTTP/1.1\r\nHost: a.localhost\r\n\r\n",
	// Malformed request lines.
	"GET  / HTTP/1.1\r\nHost: a.localhost\r\n\r\n",
	"GET / HTTP/1.1 \r\nHost: a.localhost\r\n\r\n",
	"GET /\t HTTP/1.1\r\nHost: a.localhost\r\n\r\n",
	"get / http/1.1\r\nHost: a.localhost\r\n\r\n",
	"GET / HTTP/1.1\rHost: a.localhost\r\n\r\n",
	"GET / HTTP/1.1\nHost: a.localhost\r\n\r\n",
	"\r\nGET / HTTP/1.1\r\nHost: a.localhost\r\n\r\n",
	"GET / HTTP/2.0\r\nHost: a.localhost\r\n\r\n",
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
}

// FuzzFastRequest checks the fast path's request parser against net/http:
// whatever the fast path serves itself, net/http's server would have read
// the same way (method, target, path, Host, body framing, keep-alive, where
// the head ends and the next request starts), and nothing ambiguous is
// served by the fast path at all. Handing a connection off is always
// allowed: net/http then reads the very same bytes.
func FuzzFastRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s), false)
	}
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a.localhost\r\nX-Forwarded-Host: evil\r\n\r\n"), true)
	f.Fuzz(func(t *testing.T, raw []byte, trustForwarded bool) {
		br := bufio.NewReaderSize(bytes.NewReader(raw), fastReadBuf)
		n, ok := readHead(nil, br)
		if n < 0 || !ok {
			return
		}
		var r fastRequest
		if !r.parse(br, n, trustForwarded) {
			return
		}
		if trustForwarded {
			var plain fastRequest
			if !plain.parse(br, n, false) {
				t.Fatalf("accepted when forwarding headers are trusted, refused when not: %q", raw[:n])
			}
		}
		head := raw[:n]
		checkUnambiguousHead(t, head)

		rd := bytes.NewReader(raw)
		gbr := bufio.NewReader(rd)
		req, err := http.ReadRequest(gbr)
		if err != nil {
			t.Fatalf("fast path accepted what net/http refuses (%v): %q", err, head)
		}
		if err := serverChecks(req); err != "" {
			t.Fatalf("fast path accepted what net/http's server refuses (%s): %q", err, head)
		}
		if consumed := len(raw) - rd.Len() - gbr.Buffered(); consumed != n {
			t.Fatalf("head ends at %d for the fast path, %d for net/http: %q", n, consumed, raw)
		}
		same(t, "method", string(r.method), req.Method)
		same(t, "request target", string(r.uri), req.RequestURI)
		same(t, "path", string(r.path), req.URL.Path)
		same(t, "Host", string(r.hostHeader), req.Host)
		same(t, "routing host", string(r.host), canonicalHost(req.Host))
		same(t, "Content-Length", r.contentLength, req.ContentLength)
		same(t, "Transfer-Encoding", len(req.TransferEncoding), 0)
		same(t, "close", r.close, req.Close)

		checkForwardedHead(t, &r, raw[n:])

		// The body, and so where the next request starts.
		body, err := io.ReadAll(req.Body)
		end := int64(n) + r.contentLength
		if end > int64(len(raw)) {
			if err == nil {
				t.Fatalf("net/http read a whole %d-byte body from %d bytes", r.contentLength, len(raw)-n)
			}
			return
		}
		if err != nil {
			t.Fatalf("net/http failed to read a body the fast path would relay: %v", err)
		}
		same(t, "body", string(body), string(raw[n:end]))
		same(t, "next request at", int64(len(raw)-rd.Len()-gbr.Buffered()), end)
	})
}

// checkForwardedHead fails unless the head the fast path sends upstream
// for r reads as the same request, with the client's hop-by-hop and
// forwarding headers replaced by the proxy's own, on a connection that
// stays open for the next request.
func checkForwardedHead(t *testing.T, r *fastRequest, body []byte) {
	t.Helper()
	var up bytes.Buffer
	uw := bufio.NewWriter(&up)
	writeFastHead(uw, r, "192.0.2.1", false)
	if err := uw.Flush(); err != nil {
		t.Fatal(err)
	}
	fields := checkPlainHead(t, up.Bytes())
	req, err := http.ReadRequest(bufio.NewReader(io.MultiReader(bytes.NewReader(up.Bytes()), bytes.NewReader(body))))
	if err != nil {
		t.Fatalf("upstream cannot read the forwarded head (%v): %q", err, up.Bytes())
	}
	same(t, "forwarded method", req.Method, string(r.method))
	same(t, "forwarded target", req.RequestURI, string(r.uri))
	same(t, "forwarded Host", req.Host, string(r.hostHeader))
	same(t, "forwarded Content-Length", req.ContentLength, r.contentLength)
	same(t, "forwarded close", req.Close, false)
	same(t, "forwarded Connection headers", len(fields["connection"]), 0)
	same(t, "X-Forwarded-For", strings.Join(fields["x-forwarded-for"], ","), "192.0.2.1")
	same(t, "X-Forwarded-Host", strings.Join(fields["x-forwarded-host"], ","), string(r.hostHeader))
	same(t, "X-Forwarded-Proto", strings.Join(fields["x-forwarded-proto"], ","), "http")
}

// checkUnambiguousHead fails unless head, accepted by the fast path, is
// free of everything parsers are known to disagree on.
func checkUnambiguousHead(t *testing.T, head []byte) {
	t.Helper()
	fields := checkPlainHead(t, head)
	for _, name := range []string{"transfer-encoding", "expect", "upgrade", "te", "trailer"} {
		if len(fields[name]) > 0 {
			t.Fatalf("accepted a %s header: %q", name, head)
		}
	}
	if len(fields["host"]) != 1 || len(fields["content-length"]) > 1 {
		t.Fatalf("accepted %d Host and %d Content-Length headers: %q", len(fields["host"]), len(fields["content-length"]), head)
	}
}

// checkRelayedHead fails unless a response head the relay wrote frames
// its body one way only.
func checkRelayedHead(t *testing.T, head []byte) {
	t.Helper()
	fields := checkPlainHead(t, head)
	te, cl := fields["transfer-encoding"], fields["content-length"]
	if len(te) > 1 || len(te) == 1 && len(cl) > 0 {
		t.Fatalf("relayed %d Transfer-Encoding and %d Content-Length headers: %q", len(te), len(cl), head)
	}
	for _, v := range cl[min(1, len(cl)):] {
		if v != cl[0] {
			t.Fatalf("relayed differing Content-Length headers: %q", head)
		}
	}
}

// checkPlainHead fails unless head, through its blank line, has lines
// ending in CRLF only, no control bytes, no folded lines and only token
// field names; it returns the values by lower-case name.
func checkPlainHead(t *testing.T, head []byte) map[string][]string {
	t.Helper()
	for i, c := range head {
		switch {
		case c == '\n' && (i == 0 || head[i-1] != '\r'):
			t.Fatalf("bare LF at %d: %q", i, head)
		case c == '\r' && (i+1 == len(head) || head[i+1] != '\n'):
			t.Fatalf("bare CR at %d: %q", i, head)
		case c < ' ' && c != '\t' && c != '\r' && c != '\n' || c == 0x7f:
			t.Fatalf("control byte %#x at %d: %q", c, i, head)
		}
	}
	text, found := strings.CutSuffix(string(head), "\r\n\r\n")
	if !found {
		t.Fatalf("head does not end in a blank line: %q", head)
	}
	lines := strings.Split(text, "\r\n")
	fields := make(map[string][]string)
	for _, l := range lines[1:] {
		if l == "" || l[0] == ' ' || l[0] == '\t' {
			t.Fatalf("folded or empty header line %q: %q", l, head)
		}
		name, value, found := strings.Cut(l, ":")
		if !found || !httpguts.ValidHeaderFieldName(name) {
			t.Fatalf("header line with an invalid name %q: %q", l, head)
		}
		name = strings.ToLower(name)
		fields[name] = append(fields[name], strings.Trim(value, " \t"))
	}
	return fields
}

// serverChecks are the checks net/http's server makes after ReadRequest,
// in its order; it returns what the server would refuse, or "".
func serverChecks(req *http.Request) string {
	if req.ProtoMajor != 1 {
		return "unsupported protocol version"
	}
	// ReadRequest has already refused two Host headers and moved the one
	// there is to req.Host; an empty one counts as missing here, which only
	// makes the check stricter.
	if req.ProtoAtLeast(1, 1) && req.Host == "" && req.Method != "CONNECT" {
		return "missing required Host header"
	}
	if !httpguts.ValidHostHeader(req.Host) {
		return "malformed Host header"
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return "invalid header name"
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return "invalid header value"
			}
		}
	}
	return ""
}

func same[T comparable](t *testing.T, what string, fast, std T) {
	t.Helper()
	if fast != std {
		t.Fatalf("%s: fast path %v, net/http %v", what, fast, std)
	}
}

// responseSeeds are raw upstream responses: the framings the relay
// supports and the ways a response can be framed two ways at once.
var responseSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil the end",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 204 No Content\r\n\r\n",
	"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
	"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nConnection: x-a, x-b\r\nX-A: 1\r\nX-B: 2\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	// Framed two ways.
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\nContent-Length: 0\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nX: a\nContent-Length: 100\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nX: a\rContent-Length: 100\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 ;x\r\nhello\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a\rb\r\nhello\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n x\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
	"HTTP/1.5 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.x 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 101 Switching Protocols\r\n\r\n",
	"HTTP/1.1 099 Odd\r\n\r\n",
}

// FuzzFastResponse checks the relay of upstream responses against
// net/http's client, on both sides of the proxy. Upstream: whatever the
// relay accepts, net/http reads with the same status, framing and
// persistence, and ends where the relay ends, so a pooled connection's
// next response starts where both expect it. Client: what the relay
// writes reads back as the same response and body, announces the close
// the relay will do, and leaves nothing over that a client would take for
// a next response; a body cut short is never read back as complete.
func FuzzFastResponse(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add([]byte(s), false, false)
	}
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), true, false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), false, true)
	f.Fuzz(func(t *testing.T, raw []byte, headRequest, clientClose bool) {
		rd := bytes.NewReader(raw)
		ubr := bufio.NewReaderSize(rd, 8<<10)
		n, status, err := readResponseHead(ubr)
		if err != nil {
			return
		}
		head, _ := ubr.Peek(n)
		head = bytes.Clone(head)
		resp, ok := parseFastResponse(head)
		if !ok {
			return
		}
		var out bytes.Buffer
		ow := bufio.NewWriterSize(&out, fastWriteBuf)
		_, keep, upKeep, relayErr := relayResponse(ow, ubr, head, &resp, status, headRequest, clientClose, "")
		relayEnd := len(raw) - rd.Len() - ubr.Buffered()

		method := http.MethodGet
		if headRequest {
			method = http.MethodHead
		}
		grd := bytes.NewReader(raw)
		gbr := bufio.NewReader(grd)
		var gresp *http.Response
		for {
			gresp, err = http.ReadResponse(gbr, &http.Request{Method: method})
			if err != nil {
				t.Fatalf("relay accepted a head net/http refuses (%v): %q", err, raw)
			}
			if gresp.StatusCode >= 200 {
				break
			}
		}
		same(t, "status", status, gresp.StatusCode)
		noBody := headRequest || status == 204 || status == 304
		if !noBody {
			same(t, "chunked", resp.chunked, len(gresp.TransferEncoding) == 1 && gresp.TransferEncoding[0] == "chunked")
			if !resp.chunked {
				same(t, "Content-Length", resp.contentLength, gresp.ContentLength)
			}
		}
		closeDelimited := !noBody && !resp.chunked && resp.contentLength < 0
		same(t, "client connection kept", keep, relayErr == nil && !clientClose && !closeDelimited)
		gbody, gerr := io.ReadAll(gresp.Body)
		_ = gresp.Body.Close()
		if relayErr == nil {
			if gerr != nil && !netHTTPStricter(gerr) {
				t.Fatalf("relay accepted a body net/http refuses (%v): %q", gerr, raw)
			}
			same(t, "upstream connection kept", upKeep, !gresp.Close)
			if upKeep {
				same(t, "upstream response ends at", relayEnd, len(raw)-grd.Len()-gbr.Buffered())
			}
		}

		relayedHead, _, _ := bytes.Cut(out.Bytes(), crlfcrlf)
		checkRelayedHead(t, out.Bytes()[:len(relayedHead)+len(crlfcrlf)])
		cbr := bufio.NewReader(bytes.NewReader(out.Bytes()))
		cresp, err := http.ReadResponse(cbr, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("client cannot read the relayed head (%v): %q", err, out.Bytes())
		}
		same(t, "relayed status", cresp.StatusCode, status)
		cbody, cerr := io.ReadAll(cresp.Body)
		_ = cresp.Body.Close()
		if relayErr != nil {
			if cerr == nil && !closeDelimited {
				t.Fatalf("client read a cut body (%v) as complete: %q", relayErr, out.Bytes())
			}
			return
		}
		if gerr == nil {
			if cerr != nil {
				t.Fatalf("client cannot read the relayed body (%v): %q", cerr, out.Bytes())
			}
			same(t, "relayed body", string(cbody), string(gbody))
		}
		same(t, "relayed close", cresp.Close, !keep)
		if keep && gerr == nil {
			if rest := cbr.Buffered(); rest != 0 {
				t.Fatalf("%d relayed bytes past the response's end: %q", rest, out.Bytes())
			}
		}
	})
}

// netHTTPStricter reports errors of net/http's client on bodies that
// frame the same for every parser: its limits on chunk extensions and
// trailer size.
func netHTTPStricter(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "too much non-data") || strings.Contains(msg, "suspiciously long trailer")
}
