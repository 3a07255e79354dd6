package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The fast path serves plain-HTTP/1.1 connections itself: it reads the
// request head in place from the connection's buffer, writes it to a pooled
// upstream connection with the hop-by-hop headers left out, and copies the
// upstream response back with its framing passed through. It allocates
// nothing per request and takes none of net/http's per-request machinery
// (context, background read, header maps), which is most of the cost of a
// small proxied request.
//
// It is deliberately narrow. Anything it does not handle simply — HTTP/1.0,
// Expect, request Transfer-Encoding, upgrades, Connection options, percent
// signs in the path, unknown hosts, redirects, ACME challenges, headers that
// do not fit in the buffer, anything malformed — hands the connection, bytes
// already read included, to the net/http server for the rest of its life.
// net/http stays the one strict parser for anything unusual.

const (
	fastReadBuf     = 4 << 10
	fastWriteBuf    = 4 << 10
	idleConnTimeout = 2 * time.Minute
	// tlsHandshakeTimeout bounds an HTTPS connection's handshake.
	tlsHandshakeTimeout = 10 * time.Second
	readHeadTimeout     = 10 * time.Second
	maxChunkLineSize    = 4 << 10
)

// handoffListener feeds the connections the fast path gives up on to
// net/http.
type handoffListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newHandoffListener(addr net.Addr) *handoffListener {
	return &handoffListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

func (l *handoffListener) give(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		_ = c.Close()
	}
}

// replayConn is a connection whose first bytes come from a reader that
// already buffered them.
type replayConn struct {
	// tls is the state of a TLS connection the fast path handshook, for
	// the request's TLS field (replayedTLS).
	tls *tls.ConnectionState

	net.Conn
	r io.Reader
}

func (c *replayConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// tlsStateKey is the context key of a handed-over HTTPS connection's TLS
// state.
type tlsStateKey struct{}

// replayedTLS is the HTTPS server's ConnContext: net/http sets a
// request's TLS only on a *tls.Conn, which a connection replaying what
// the fast path read is not; ServeHTTP takes the state from the context.
func replayedTLS(ctx context.Context, c net.Conn) context.Context {
	if rc, ok := c.(*replayConn); ok && rc.tls != nil {
		return context.WithValue(ctx, tlsStateKey{}, rc.tls)
	}
	return ctx
}

type fastServer struct {
	p       *Proxy
	ln      *limitListener
	handoff *handoffListener
	closing atomic.Bool
	wg      sync.WaitGroup
	// tlsConf makes the server an HTTPS one: it handshakes each
	// connection, hands HTTP/2 ones to net/http as they are and serves
	// HTTP/1.1 as on plain HTTP.
	tlsConf *tls.Config

	mu    sync.Mutex
	conns map[*fastConn]struct{}
}

type fastConn struct {
	// c is the client connection, cc its counted wrapper: I/O goes to c
	// straight, Close and the idle state to cc.
	c      net.Conn
	cc     *clientConn
	br     *bufio.Reader
	bw     *bufio.Writer
	remote string
	// tls is the state of an HTTPS connection, nil on plain HTTP.
	tls *tls.ConnectionState
	// h2 is the connection's HTTP/2 server while the HTTP/2 fast path
	// serves it (h2.go), for the shutdown to drain.
	h2 atomic.Pointer[h2Conn]
}

func newFastServer(p *Proxy, ln *limitListener, handoff *handoffListener) *fastServer {
	return &fastServer{p: p, ln: ln, handoff: handoff, conns: make(map[*fastConn]struct{})}
}

func (s *fastServer) serve() {
	var backoff time.Duration
	for {
		cc, err := s.ln.accept()
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		fc := &fastConn{c: cc.Conn, cc: cc, br: bufio.NewReaderSize(cc.Conn, fastReadBuf), bw: bufio.NewWriterSize(cc.Conn, fastWriteBuf)}
		s.mu.Lock()
		s.conns[fc] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serveConn(fc)
	}
}

// shutdown stops accepting, wakes idle connections so they close, lets
// active ones finish their request until ctx ends, then closes the rest.
func (s *fastServer) shutdown(ctx context.Context) error {
	s.closing.Store(true)
	_ = s.ln.Close()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		for fc := range s.conns {
			if h2 := fc.h2.Load(); h2 != nil {
				h2.drain()
			} else if fc.cc.idle() {
				_ = fc.c.SetReadDeadline(time.Now())
			}
		}
		s.mu.Unlock()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			s.mu.Lock()
			for fc := range s.conns {
				_ = fc.cc.Close()
			}
			s.mu.Unlock()
			<-done
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (s *fastServer) forget(fc *fastConn) {
	s.mu.Lock()
	delete(s.conns, fc)
	s.mu.Unlock()
}

func (s *fastServer) serveConn(fc *fastConn) {
	defer s.wg.Done()
	handedOff := false
	defer func() {
		s.forget(fc)
		if !handedOff {
			_ = fc.cc.Close()
		}
	}()
	fc.remote = clientIP(fc.c.RemoteAddr().String())
	if s.tlsConf != nil {
		tc := tls.Server(fc.cc, s.tlsConf)
		_ = tc.SetDeadline(time.Now().Add(tlsHandshakeTimeout))
		if err := tc.HandshakeContext(context.Background()); err != nil {
			return
		}
		_ = tc.SetDeadline(time.Time{})
		cs := tc.ConnectionState()
		switch cs.NegotiatedProtocol {
		case "h2":
			handedOff = s.serveH2(fc, tc, &cs)
			return
		case acmeALPN:
			return // the challenge was answered in the handshake
		}
		fc.c, fc.tls = tc, &cs
		fc.br.Reset(tc)
		fc.bw.Reset(tc)
	}
	var req fastRequest
	for !s.closing.Load() {
		idle := fc.cc.setIdle()
		if s.closing.Load() {
			return
		}
		_ = fc.c.SetReadDeadline(time.Now().Add(idleConnTimeout))
		if _, err := fc.br.Peek(1); err != nil {
			return
		}
		if !fc.cc.setBusy(idle) {
			return // closed to make room while idle
		}
		n, ok := readHead(fc.c, fc.br)
		if n < 0 {
			return
		}
		var rt *route
		if ok && req.parse(fc.br, n, s.p.trustForwarded) {
			rt = s.p.fastRoute(&req, fc.tls != nil)
		}
		if rt == nil {
			handedOff = true
			_ = fc.c.SetReadDeadline(time.Time{})
			if fc.tls != nil {
				s.handoff.give(&replayConn{Conn: fc.c, r: fc.br, tls: fc.tls})
			} else {
				s.handoff.give(&replayConn{Conn: fc.cc, r: fc.br})
			}
			return
		}
		if !s.p.fastForward(fc, &req, rt) {
			return
		}
	}
}

// readHead peeks until the buffer holds a whole request or response head
// and returns its length, without consuming it; ok is false when the head
// does not fit in the buffer. n < 0 is a read error. With c set, the head
// must arrive within readHeadTimeout once it has started.
func readHead(c net.Conn, br *bufio.Reader) (n int, ok bool) {
	deadlineSet := false
	for {
		buf, _ := br.Peek(br.Buffered())
		if i := bytes.Index(buf, crlfcrlf); i >= 0 {
			return i + 4, true
		}
		if br.Buffered() == br.Size() {
			return 0, false
		}
		if c != nil && !deadlineSet {
			_ = c.SetReadDeadline(time.Now().Add(readHeadTimeout))
			deadlineSet = true
		}
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			return -1, false
		}
	}
}

var (
	crlf     = []byte("\r\n")
	crlfcrlf = []byte("\r\n\r\n")
)

// fastRequest is a request head parsed in place: every slice points into
// the connection's read buffer and is valid until the head is discarded.
type fastRequest struct {
	head          []byte // request line and headers, through the blank line
	method, uri   []byte
	host          []byte // without port
	hostHeader    []byte // as sent
	path          []byte
	contentLength int64
	close         bool
	// hsts is the Strict-Transport-Security value of an HTTPS response
	// (relayResponse); set by fastForward.
	hsts string
}

// parse accepts only plain, unambiguous HTTP/1.1 requests.
func (r *fastRequest) parse(br *bufio.Reader, n int, trustForwarded bool) bool {
	*r = fastRequest{}
	head, _ := br.Peek(n)
	r.head = head
	line, rest, _ := bytes.Cut(head, crlf)
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || !isToken(line[:sp]) {
		return false
	}
	r.method = line[:sp]
	line = line[sp+1:]
	sp = bytes.IndexByte(line, ' ')
	if sp <= 0 || line[0] != '/' || string(line[sp+1:]) != "HTTP/1.1" {
		return false
	}
	r.uri = line[:sp]
	for _, c := range r.uri {
		if c <= ' ' || c == 0x7f || c == '%' {
			return false
		}
	}
	r.path = r.uri
	if q := bytes.IndexByte(r.uri, '?'); q >= 0 {
		r.path = r.uri[:q]
	}
	sawLength := false
	for len(rest) > 2 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, crlf)
		colon := bytes.IndexByte(h, ':')
		if colon <= 0 || !isToken(h[:colon]) {
			return false
		}
		name, value := h[:colon], trimOWS(h[colon+1:])
		for _, c := range value {
			if c < ' ' && c != '\t' || c == 0x7f {
				return false
			}
		}
		switch {
		case asciiEqualFoldBytes(name, "host"):
			if r.hostHeader != nil || len(value) == 0 {
				return false
			}
			r.hostHeader = value
		case asciiEqualFoldBytes(name, "content-length"):
			v, ok := parseDecimal(value)
			if sawLength || !ok {
				return false
			}
			sawLength, r.contentLength = true, v
		case asciiEqualFoldBytes(name, "connection"):
			ok := true
			forEachTokenBytes(value, func(tok []byte) {
				switch {
				case asciiEqualFoldBytes(tok, "close"):
					r.close = true
				case asciiEqualFoldBytes(tok, "keep-alive"):
				default:
					ok = false
				}
			})
			if !ok {
				return false
			}
		case asciiEqualFoldBytes(name, "transfer-encoding"), asciiEqualFoldBytes(name, "expect"),
			asciiEqualFoldBytes(name, "upgrade"), asciiEqualFoldBytes(name, "te"), asciiEqualFoldBytes(name, "trailer"):
			return false
		case trustForwarded && hasPrefixFold(name, "x-forwarded-"):
			return false
		}
	}
	if r.hostHeader == nil {
		return false
	}
	// net/http refuses a Host with bytes no host name has (spaces,
	// slashes, '@'); a wildcard route would match some of them. Upper
	// case goes to net/http too, which lowers it.
	for _, c := range r.hostHeader {
		if c >= 0x80 || !hostChars[c] {
			return false
		}
	}
	r.host = r.hostHeader
	if i := bytes.LastIndexByte(r.host, ':'); i >= 0 && r.host[len(r.host)-1] != ']' {
		r.host = r.host[:i]
	}
	r.host = bytes.TrimSuffix(r.host, []byte("."))
	return true
}

// hostChars are the bytes of a lower-case host name, IP address or port.
var hostChars = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for _, c := range "-._:[]" {
		t[c] = true
	}
	return t
}()

func (r *fastRequest) rematch(t *table) *route { return t.matchBytes(r.host, r.path) }

// fastRoute returns the route the fast path may serve r on, or nil when
// the request must go through ServeHTTP (unknown host, no target, redirect,
// ACME challenge).
func (p *Proxy) fastRoute(r *fastRequest, https bool) *route {
	rt := p.table.Load().matchBytes(r.host, r.path)
	if rt == nil || len(rt.targets) == 0 {
		return nil
	}
	if https {
		// Over HTTPS the fast path adds the Strict-Transport-Security
		// header of the route's edge, and no other rule.
		if rt.edge != nil && (rt.edge.plain || rt.edge.redirectTo != "") || rt.TLS == TLSOff {
			return nil
		}
		return rt
	}
	if rt.edge != nil && rt.edge.plain {
		return nil // rules: net/http and the route's chain (rules.go)
	}
	if p.httpsLn != nil && rt.TLS != TLSOff && !isLocalName(r.host) {
		return nil
	}
	if p.acme != nil && hasPrefixFold(r.path, acmeChallengePath) {
		return nil
	}
	return rt
}

// fastForward proxies one request; false closes the client connection.
func (p *Proxy) fastForward(fc *fastConn, r *fastRequest, rt *route) bool {
	var start time.Time
	logging := p.log != nil && p.log.Enabled(context.Background(), slog.LevelInfo)
	stats := rt.stats
	if logging || stats != nil {
		start = time.Now()
	}
	// A body that fits in the buffer with the head is read in place and
	// can be replayed; a larger one streams and cannot.
	consumed := len(r.head)
	var body []byte
	replayable := idempotent(string(r.method))
	if r.contentLength > 0 {
		if total := len(r.head) + int(r.contentLength); r.contentLength < int64(fc.br.Size()) && total <= fc.br.Size() {
			b, err := fc.br.Peek(total)
			if err != nil {
				return false
			}
			body = b[len(r.head):]
			consumed = total
		} else {
			replayable = false
		}
	}
	r.hsts = ""
	if fc.tls != nil && rt.edge != nil {
		r.hsts = rt.edge.hsts
	}
	var res result
	keep := false
	a := newTries(p, rt, r, replayable)
	for t := a.next(&res); t != nil; t = a.next(&res) {
		var err error
		res.status, res.written, keep, err = p.fastRoundTrip(fc, r, t, body, &consumed, a.fresh)
		if !a.after(&res, t, err, false) {
			break
		}
	}
	rt = a.rt
	if res.status == 0 {
		res.status = http502
		keep = writeSimple(fc.bw, http502, "quai: upstream for "+rt.Host+rt.Path+" failed\n", r.close) && !r.close
	}
	if consumed > 0 {
		_, _ = fc.br.Discard(consumed)
	}
	if stats != nil {
		stats.observe(res.status, time.Since(start), r.contentLength, res.written)
		stats.attempts(res.retries, res.failed)
	}
	if logging {
		p.log.LogAttrs(context.Background(), slog.LevelInfo, "request",
			slog.String("method", string(r.method)),
			slog.String("host", string(r.host)),
			slog.String("path", string(r.path)),
			slog.Int("status", res.status),
			slog.Int64("bytes", res.written),
			slog.Duration("dur", time.Since(start)),
			slog.String("upstream", res.target.addrOrEmpty()),
			slog.String("remote", fc.remote),
		)
	}
	return keep
}

const http502 = 502

func (t *target) addrOrEmpty() string {
	if t == nil {
		return ""
	}
	return t.addr
}

// writeSimple answers with a short plain-text response.
func writeSimple(bw *bufio.Writer, status int, msg string, closeConn bool) bool {
	_, _ = bw.WriteString("HTTP/1.1 ")
	var num [20]byte
	_, _ = bw.Write(strconv.AppendInt(num[:0], int64(status), 10))
	_, _ = bw.WriteString(" \r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: ")
	_, _ = bw.Write(strconv.AppendInt(num[:0], int64(len(msg)), 10))
	if closeConn {
		_, _ = bw.WriteString("\r\nConnection: close")
	}
	_, _ = bw.WriteString("\r\n\r\n")
	_, _ = bw.WriteString(msg)
	return bw.Flush() == nil
}

// fastRoundTrip sends r to t and relays the response. keep says whether
// the client connection can serve another request. A zero status with an
// error means nothing was written to the client.
func (p *Proxy) fastRoundTrip(fc *fastConn, r *fastRequest, t *target, body []byte, consumed *int, fresh bool) (status int, written int64, keep bool, err error) {
	c, reused, err := t.getConn(context.Background(), &p.dialer, fresh)
	if err != nil {
		t.markDown()
		return 0, 0, false, &upstreamError{err: err, beforeResponse: true}
	}
	t.markUp()
	status, written, keep, upKeep, err := p.fastExchange(fc, r, c, body, consumed, reused)
	if upKeep && err == nil {
		t.putConn(c)
	} else {
		c.close()
	}
	return status, written, keep, err
}

// consumed is how much of the client's buffer the request occupies; a
// streamed body consumes it (the request can then not be retried).
func (p *Proxy) fastExchange(fc *fastConn, r *fastRequest, c *upConn, body []byte, consumed *int, reused bool) (status int, written int64, keep, upKeep bool, err error) {
	bw := c.bw
	writeFastHead(bw, r, fc.remote, fc.tls != nil)
	streaming := body == nil && r.contentLength > 0
	if body != nil {
		_, _ = bw.Write(body)
	}
	if streaming {
		// The head bytes were just copied out; the body follows them.
		_, _ = fc.br.Discard(*consumed)
		*consumed = 0
		_ = fc.c.SetReadDeadline(time.Time{})
		if _, err := copyN(bw, fc.br, r.contentLength, nil); err != nil {
			return 0, 0, false, false, err
		}
	}
	if err := bw.Flush(); err != nil {
		return 0, 0, false, false, &upstreamError{err: err, beforeResponse: !streaming, reused: reused}
	}
	n, status, err := readResponseHead(c.br)
	if err != nil {
		if errors.Is(err, errNoResponse) {
			return 0, 0, false, false, &upstreamError{err: err, beforeResponse: true, reused: reused}
		}
		return 0, 0, false, false, err
	}
	head, _ := c.br.Peek(n)
	resp, ok := parseFastResponse(head)
	if !ok {
		return 0, 0, false, false, errors.New("malformed upstream response header")
	}
	written, keep, upKeep, err = relayResponse(fc.bw, c.br, head, &resp, status, string(r.method) == "HEAD", r.close, r.hsts)
	if err != nil {
		return status, written, false, false, nil
	}
	return status, written, keep, upKeep, nil
}

// readResponseHead waits for the upstream's final response head, skipping
// interim ones, and returns its length and status without consuming it.
// errNoResponse means the upstream sent nothing before closing.
func readResponseHead(ubr *bufio.Reader) (n, status int, err error) {
	for {
		if _, err := ubr.Peek(1); err != nil {
			return 0, 0, errNoResponse
		}
		var ok bool
		n, ok = readHead(nil, ubr)
		if !ok {
			return 0, 0, errors.New("upstream response head too large or broken")
		}
		head, _ := ubr.Peek(n)
		if len(head) < 12 || !bytes.HasPrefix(head, []byte("HTTP/1.")) || head[7] != '0' && head[7] != '1' || head[8] != ' ' {
			return 0, 0, errors.New("malformed upstream status line")
		}
		code, ok := parseDecimal(head[9:12])
		if !ok || code < 100 || head[12] != ' ' && head[12] != '\r' {
			return 0, 0, errors.New("malformed upstream status code")
		}
		if code >= 200 {
			return n, int(code), nil
		}
		if code == 101 {
			return 0, 0, errors.New("upstream switched protocols unasked")
		}
		// An interim head is skipped, never parsed (parseFastResponse
		// refuses control bytes in a final one): a bare CR or LF, which
		// ends a line for net/http but not for readHead, would make the
		// two disagree on where the next response starts.
		if crlfs := bytes.Count(head, crlf); bytes.Count(head, []byte{'\n'}) != crlfs || bytes.Count(head, []byte{'\r'}) != crlfs {
			return 0, 0, errors.New("malformed upstream interim response head: bare CR or LF")
		}
		_, _ = ubr.Discard(n) // interim response
	}
}

// relayResponse writes the response whose head, parsed as resp, starts
// ubr to out, consuming it. keep says whether the client connection can
// serve another request, upKeep whether the upstream one can. An error
// means the body broke off after the head was written: both connections
// must close.
//
// hsts, when set, is the Strict-Transport-Security value that replaces
// the upstream's, as the route's edge sets it on HTTPS responses.
func relayResponse(out *bufio.Writer, ubr *bufio.Reader, head []byte, resp *fastResponse, status int, headRequest, clientClose bool, hsts string) (written int64, keep, upKeep bool, err error) {
	noBody := headRequest || status == 204 || status == 304
	closeDelimited := !noBody && !resp.chunked && resp.contentLength < 0
	keep = !clientClose && !closeDelimited
	upKeep = !resp.close && !closeDelimited

	// Status line as sent (version normalized), headers minus hop-by-hop.
	_, _ = out.WriteString("HTTP/1.1")
	line, rest, _ := bytes.Cut(head, crlf)
	_, _ = out.Write(line[8:])
	_, _ = out.WriteString("\r\n")
	for len(rest) > 2 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, crlf)
		name := h[:bytes.IndexByte(h, ':')]
		if hopHeaderBytes(name) || resp.listedInConnection(name) || hsts != "" && asciiEqualFoldBytes(name, "strict-transport-security") {
			continue
		}
		_, _ = out.Write(h)
		_, _ = out.WriteString("\r\n")
	}
	if hsts != "" {
		_, _ = out.WriteString("Strict-Transport-Security: ")
		_, _ = out.WriteString(hsts)
		_, _ = out.WriteString("\r\n")
	}
	if resp.chunked && !noBody {
		_, _ = out.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if !keep {
		_, _ = out.WriteString("Connection: close\r\n")
	}
	_, _ = out.WriteString("\r\n")
	_, _ = ubr.Discard(len(head))

	switch {
	case noBody:
	case resp.chunked:
		written, err = copyChunked(out, ubr)
	case closeDelimited:
		written, err = copyN(out, ubr, -1, out)
	default:
		written, err = copyN(out, ubr, resp.contentLength, out)
	}
	if err != nil {
		// The header may be out: close the client connection so a short
		// body is not taken for a whole one.
		_ = out.Flush()
		return written, false, false, err
	}
	if err := out.Flush(); err != nil {
		return written, false, upKeep, nil
	}
	return written, keep, upKeep, nil
}

// writeFastHead writes the request head for the upstream: the request
// line and headers as received minus hop-by-hop and forwarding headers,
// then the forwarding headers.
func writeFastHead(bw *bufio.Writer, r *fastRequest, remote string, https bool) {
	line, rest, _ := bytes.Cut(r.head, crlf)
	_, _ = bw.Write(line)
	_, _ = bw.WriteString("\r\n")
	for len(rest) > 2 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, crlf)
		name := h[:bytes.IndexByte(h, ':')]
		if hopHeaderBytes(name) || hasPrefixFold(name, "x-forwarded-") {
			continue
		}
		_, _ = bw.Write(h)
		_, _ = bw.WriteString("\r\n")
	}
	_, _ = bw.WriteString("X-Forwarded-For: ")
	_, _ = bw.WriteString(remote)
	if https {
		_, _ = bw.WriteString("\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: ")
	} else {
		_, _ = bw.WriteString("\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: ")
	}
	_, _ = bw.Write(r.hostHeader)
	_, _ = bw.WriteString("\r\n\r\n")
}

// hopHeaderBytes reports headers not forwarded as received in either
// direction; Content-Length is kept (the body is passed through as is).
func hopHeaderBytes(name []byte) bool {
	switch len(name) {
	case 2:
		return asciiEqualFoldBytes(name, "te")
	case 7:
		return asciiEqualFoldBytes(name, "trailer") || asciiEqualFoldBytes(name, "upgrade")
	case 10:
		return asciiEqualFoldBytes(name, "connection") || asciiEqualFoldBytes(name, "keep-alive")
	case 16:
		return asciiEqualFoldBytes(name, "proxy-connection")
	case 17:
		return asciiEqualFoldBytes(name, "transfer-encoding")
	case 18:
		return asciiEqualFoldBytes(name, "proxy-authenticate")
	case 19:
		return asciiEqualFoldBytes(name, "proxy-authorization")
	}
	return false
}

// fastResponse is what the relay needs from an upstream response head.
type fastResponse struct {
	contentLength int64 // -1 when absent
	chunked       bool
	close         bool
	connOptions   [4][]byte // other tokens of Connection, to drop
	nOptions      int
}

// parseFastResponse reads the framing of a response head whose status
// line readResponseHead checked. It refuses what a client could frame
// differently than the relay does: control bytes in the reason phrase or
// a value, differing lengths, a length with chunks, chunks in HTTP/1.0.
func parseFastResponse(head []byte) (fastResponse, bool) {
	resp := fastResponse{contentLength: -1}
	http10 := head[7] == '0'
	keepAlive := false
	line, rest, _ := bytes.Cut(head, crlf)
	if !validFieldValue(line) {
		return resp, false
	}
	var length []byte
	ok := true
	for len(rest) > 2 && ok {
		var h []byte
		h, rest, _ = bytes.Cut(rest, crlf)
		name, value, valid := splitField(h)
		if !valid {
			return resp, false
		}
		switch {
		case asciiEqualFoldBytes(name, "content-length"):
			v, ok := parseDecimal(value)
			if !ok || length != nil && !bytes.Equal(length, value) {
				return resp, false
			}
			length, resp.contentLength = value, v
		case asciiEqualFoldBytes(name, "transfer-encoding"):
			if resp.chunked || http10 || !asciiEqualFoldBytes(value, "chunked") {
				return resp, false
			}
			resp.chunked = true
		case asciiEqualFoldBytes(name, "connection"):
			forEachTokenBytes(value, func(tok []byte) {
				switch {
				case asciiEqualFoldBytes(tok, "close"):
					resp.close = true
				case asciiEqualFoldBytes(tok, "keep-alive"):
					keepAlive = true
				case asciiEqualFoldBytes(tok, "content-length"):
					// Dropping it would leave the client a body
					// without an end.
					ok = false
				case resp.nOptions < len(resp.connOptions):
					resp.connOptions[resp.nOptions] = tok
					resp.nOptions++
				default:
					ok = false
				}
			})
		}
	}
	if resp.chunked && length != nil {
		return resp, false
	}
	if http10 && !keepAlive {
		resp.close = true
	}
	return resp, ok
}

// splitField splits a header field line into its name and its value
// without surrounding whitespace; valid is false unless the name is a
// token and the value has no control bytes but tabs.
func splitField(h []byte) (name, value []byte, valid bool) {
	colon := bytes.IndexByte(h, ':')
	if colon <= 0 || !isToken(h[:colon]) || !validFieldValue(h[colon+1:]) {
		return nil, nil, false
	}
	return h[:colon], trimOWS(h[colon+1:]), true
}

func validFieldValue(v []byte) bool {
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func (r *fastResponse) listedInConnection(name []byte) bool {
	for _, o := range r.connOptions[:r.nOptions] {
		if bytes.EqualFold(o, name) {
			return true
		}
	}
	return false
}

// copyN relays n bytes (until EOF when n < 0) from src's buffer, flushing
// flush whenever src has nothing buffered, so a slow upstream's bytes are
// not held back.
func copyN(dst *bufio.Writer, src *bufio.Reader, n int64, flush *bufio.Writer) (int64, error) {
	var written int64
	for n != 0 {
		if src.Buffered() == 0 {
			if flush != nil && flush.Buffered() > 0 {
				if err := flush.Flush(); err != nil {
					return written, err
				}
			}
			if _, err := src.Peek(1); err != nil {
				if n < 0 && errors.Is(err, io.EOF) {
					return written, nil
				}
				return written, err
			}
		}
		chunk := src.Buffered()
		if n >= 0 && int64(chunk) > n {
			chunk = int(n)
		}
		b, _ := src.Peek(chunk)
		m, err := dst.Write(b)
		written += int64(m)
		_, _ = src.Discard(m)
		if err != nil {
			return written, err
		}
		if n > 0 {
			n -= int64(m)
		}
	}
	return written, nil
}

// copyChunked relays a chunked body as is, parsing only enough to find its
// end. It is as strict as net/http's client, so that no client reads the
// relayed bytes with a different end: lines end in CRLF and hold no other
// CR, trailer fields are plain header fields.
func copyChunked(dst *bufio.Writer, src *bufio.Reader) (int64, error) {
	var written int64
	for {
		if src.Buffered() == 0 && dst.Buffered() > 0 {
			if err := dst.Flush(); err != nil {
				return written, err
			}
		}
		line, err := src.ReadSlice('\n')
		if err != nil || !isCRLFLine(line) || len(line)-2 >= maxChunkLineSize {
			return written, errBadChunk
		}
		size, ok := parseChunkSize(line[:len(line)-2])
		if !ok {
			return written, errBadChunk
		}
		if _, err := dst.Write(line); err != nil {
			return written, err
		}
		if size == 0 {
			// Trailer fields, then the final blank line.
			for {
				tl, err := src.ReadSlice('\n')
				if err != nil || !isCRLFLine(tl) {
					return written, errBadChunk
				}
				if len(tl) > 2 {
					if _, _, valid := splitField(tl[:len(tl)-2]); !valid {
						return written, errBadChunk
					}
				}
				if _, err := dst.Write(tl); err != nil {
					return written, err
				}
				if len(tl) == 2 {
					return written, nil
				}
			}
		}
		m, err := copyN(dst, src, size, dst)
		written += m
		if err != nil {
			return written, err
		}
		if err := chunkEnd(src); err != nil {
			return written, err
		}
		_, _ = dst.Write(crlf)
	}
}

// chunkEnd consumes the CRLF that ends a chunk's data.
func chunkEnd(src *bufio.Reader) error {
	end, err := src.Peek(2)
	if err != nil || end[0] != '\r' || end[1] != '\n' {
		return errBadChunk
	}
	_, _ = src.Discard(2)
	return nil
}

var errBadChunk = errors.New("malformed chunked encoding from upstream")

// isCRLFLine reports whether line, ending in LF, ends in CRLF and has no
// other CR.
func isCRLFLine(line []byte) bool {
	return len(line) >= 2 && bytes.IndexByte(line, '\r') == len(line)-2
}

// parseChunkSize reads a chunk-size line without its CRLF as net/http
// does: whitespace only at the end of the line, the extension ignored.
func parseChunkSize(b []byte) (int64, bool) {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	if i := bytes.IndexByte(b, ';'); i >= 0 {
		b = b[:i]
	}
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int64(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		case 'A' <= c && c <= 'F':
			n = n<<4 | int64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

// parseDecimal parses a non-negative decimal of at most 18 digits.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c >= 0x80 || !tokenChars[c] {
			return false
		}
	}
	return true
}

// tokenChars are RFC 9110 tchar.
var tokenChars = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func forEachTokenBytes(v []byte, f func([]byte)) {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ',')
		if i < 0 {
			i = len(v)
		}
		if tok := trimOWS(v[:i]); len(tok) > 0 {
			f(tok)
		}
		if i == len(v) {
			return
		}
		v = v[i+1:]
	}
}

// asciiEqualFoldBytes compares b with a lower-case ASCII string.
func asciiEqualFoldBytes(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func hasPrefixFold(b []byte, lower string) bool {
	return len(b) >= len(lower) && asciiEqualFoldBytes(b[:len(lower)], lower)
}
