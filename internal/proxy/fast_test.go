package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// rawResponse is what a test needs of a response read off the wire.
type rawResponse struct {
	StatusCode int
	Body       string
	Close      bool
}

// rawExchange writes raw bytes to the proxy and reads n responses.
func rawExchange(t *testing.T, proxyAddr, raw string, n int) []rawResponse {
	t.Helper()
	c, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var out []rawResponse
	for i := 0; i < n; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("response %d body: %v", i, err)
		}
		_ = resp.Body.Close()
		out = append(out, rawResponse{resp.StatusCode, string(body), resp.Close})
	}
	return out
}

// echoBackend answers with the method, the request URI and the body it
// received, and the headers it saw as response headers prefixed "Seen-".
func echoBackend(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range r.Header {
			w.Header()["Seen-"+k] = v
		}
		body, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, r.Method+" "+r.RequestURI+" "+string(body))
	}))
	t.Cleanup(s.Close)
	return s
}

func TestRawRequests(t *testing.T) {
	p := startProxy(t, "")
	b := echoBackend(t)
	mustSet(t, p, "a", Route{Host: "a.localhost", Targets: []string{addr(b)}})
	long := strings.Repeat("x", 6000)
	tests := []struct {
		name   string
		raw    string
		n      int
		status []int
		body   []string
	}{
		{"simple", "GET /p?q=1 HTTP/1.1\r\nHost: a.localhost\r\n\r\n", 1, []int{200}, []string{"GET /p?q=1 "}},
		{"pipelined", "GET /1 HTTP/1.1\r\nHost: a.localhost\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: a.localhost\r\n\r\n", 3,
			[]int{200, 200, 200}, []string{"GET /1 ", "POST /2 abc", "GET /3 "}},
		{"HTTP/1.0 goes to net/http", "GET /old HTTP/1.0\r\nHost: a.localhost\r\n\r\n", 1, []int{200}, []string{"GET /old "}},
		{"chunked request body", "POST /c HTTP/1.1\r\nHost: a.localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 1, []int{200}, []string{"POST /c abc"}},
		{"expect continue", "PUT /e HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi", 2, []int{100, 200}, []string{"", "PUT /e hi"}},
		{"header larger than the buffer", "GET /big HTTP/1.1\r\nHost: a.localhost\r\nX-Long: " + long + "\r\n\r\n", 1, []int{200}, []string{"GET /big "}},
		{"body larger than the buffer", "POST /big HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 6000\r\n\r\n" + long, 1, []int{200}, []string{"POST /big " + long}},
		{"percent-encoded path", "GET /a%2Fb HTTP/1.1\r\nHost: a.localhost\r\n\r\n", 1, []int{200}, []string{"GET /a%2Fb "}},
		{"upper-case host", "GET / HTTP/1.1\r\nHost: A.LOCALHOST\r\n\r\n", 1, []int{200}, []string{"GET / "}},
		// net/http lets chunked win over a length and forwards the body
		// chunked, so the upstream sees one unambiguous framing.
		{"content length and chunked", "POST / HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 1, []int{200}, []string{"POST / "}},
		{"two content lengths are refused", "POST / HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 1, []int{400}, nil},
		{"missing host is refused", "GET / HTTP/1.1\r\n\r\n", 1, []int{400}, nil},
		{"folded header goes to net/http", "GET / HTTP/1.1\r\nHost: a.localhost\r\nX-A: 1\r\n continued\r\n\r\n", 1, []int{200}, []string{"GET / "}},
		{"bare LF goes to net/http", "GET / HTTP/1.1\r\nHost: a.localhost\r\nX-A: 1\nX-B: 2\r\n\r\n", 1, []int{200}, []string{"GET / "}},
		{"unknown host", "GET / HTTP/1.1\r\nHost: b.localhost\r\n\r\n", 1, []int{404}, []string{`quai: no route for host "b.localhost"` + "\n"}},
		// A broken body is the client's fault: 400, not a 502 that
		// blames the upstream.
		{"malformed chunk size", "POST /c HTTP/1.1\r\nHost: a.localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 1, []int{400}, nil},
		{"chunk size too long", "POST /c HTTP/1.1\r\nHost: a.localhost\r\nTransfer-Encoding: chunked\r\n\r\n" + strings.Repeat("f", 20) + "\r\nabc\r\n0\r\n\r\n", 1, []int{400}, nil},
		{"chunk size with a sign", "PUT /c HTTP/1.1\r\nHost: a.localhost\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n", 1, []int{400}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resps := rawExchange(t, p.HTTPAddr(), tc.raw, tc.n)
			for i, r := range resps {
				expect(t, "status", r.StatusCode, tc.status[i])
				if tc.body != nil {
					expect(t, "body", r.Body, tc.body[i])
				}
			}
		})
	}
}

func TestConnectionClose(t *testing.T) {
	p := startProxy(t, "")
	b := echoBackend(t)
	mustSet(t, p, "a", Route{Host: "a.localhost", Targets: []string{addr(b)}})
	c, err := net.Dial("tcp", p.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.localhost\r\nConnection: close\r\n\r\n")
	all, err := io.ReadAll(c) // ends only if the proxy closes
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(all))), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	expect(t, "status", resp.StatusCode, 200)
	expect(t, "close announced", resp.Close, true)
	expect(t, "client's Connection header not forwarded", resp.Header.Get("Seen-Connection"), "")
}

// TestUpstreamFraming covers the ways an upstream delimits its body: a
// length, chunks (streamed as they come), and the end of the connection.
func TestUpstreamFraming(t *testing.T) {
	p := startProxy(t, "")
	next := make(chan struct{})
	stream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < 3; i++ {
			_, _ = io.WriteString(w, "data: tick\n\n")
			w.(http.Flusher).Flush()
			<-next
		}
	}))
	t.Cleanup(stream.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		// An HTTP/1.0-style upstream: no length, the body ends at close.
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(c)
			if _, err := http.ReadRequest(br); err == nil {
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil the end")
			}
			_ = c.Close()
		}
	}()
	mustSet(t, p, "a",
		Route{Host: "a.localhost", Path: "/stream", Targets: []string{addr(stream)}},
		Route{Host: "a.localhost", Path: "/eof", Targets: []string{ln.Addr().String()}},
	)

	c, err := net.Dial("tcp", p.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(c, "GET /stream HTTP/1.1\r\nHost: a.localhost\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "chunked", resp.TransferEncoding, []string{"chunked"})
	for i := 0; i < 3; i++ {
		// Each event arrives before the upstream sends the next one.
		event := make([]byte, 12)
		if _, err := io.ReadFull(resp.Body, event); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		expect(t, "event", string(event), "data: tick\n\n")
		next <- struct{}{}
	}
	rest, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	expect(t, "stream rest", string(rest), "")

	resps := rawExchange(t, p.HTTPAddr(), "GET /eof HTTP/1.1\r\nHost: a.localhost\r\n\r\n", 1)
	expect(t, "close-delimited body", resps[0].Body, "until the end")
	expect(t, "close-delimited ends the client connection", resps[0].Close, true)
}
