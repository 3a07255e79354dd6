package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The HTTP/2 fast path serves HTTPS connections that negotiated h2 itself,
// as the HTTP/1.1 fast path does for HTTP/1.1: one reader goroutine per
// connection decodes frames (golang.org/x/net/http2's Framer and hpack), a
// goroutine per stream forwards the request over the pooled upstream
// connections with the header handling of writeHead, and one writer
// goroutine sends what the streams queued in as few TLS records and
// syscalls as it can. net/http's HTTP/2 server spent most of its CPU on
// two flushes (two TLS records, two write syscalls) per response, a
// handler goroutine and channel round trips per frame, and header maps.
//
// It is deliberately narrow: it serves requests on routes the HTTP/1.1
// fast path serves over HTTPS, without a body (END_STREAM on HEADERS) or,
// after the connection's first request, with a body of a declared length
// that fits in the stream's initial flow-control window (read whole before
// forwarding, so it can be retried). Anything else goes to net/http's
// HTTP/2 server:
//
//   - decided on the connection's first request, before a byte was
//     written: the connection is handed over with what was read replayed
//     (the server then serves it as "unencrypted" HTTP/2 over the replay,
//     the TLS state travelling in the context as for HTTP/1.1 hand-offs);
//   - on a later request: the connection sends GOAWAY naming the last
//     stream it accepted, finishes those, and closes. The refused request
//     was not processed, which GOAWAY tells the client (RFC 9113 6.8):
//     clients retry it on a new connection, whose first request it then
//     is.
//
// So net/http stays the one server of request bodies, rules, WebSockets
// over HTTP/2, error pages and anything malformed.

const (
	// h2MaxStreams is the concurrent streams a client may open, as
	// net/http's server allows.
	h2MaxStreams = 250
	// h2MaxHeaderList bounds a request's decoded header list.
	h2MaxHeaderList = 1 << 20
	// h2FirstRequestWait is how long a new connection may take to send its
	// first request before it is handed to net/http (a browser's
	// pre-connected connection, a client that waits for the server's
	// settings): the choice of server needs that request.
	h2FirstRequestWait = 250 * time.Millisecond
	// h2MaxBeforeFirst bounds what a connection may send before its first
	// request (kept for a hand-over): beyond it, net/http takes it.
	h2MaxBeforeFirst = 64 << 10
	// h2MaxQueued bounds the response bytes queued for the writer; a
	// stream waits beyond it.
	h2MaxQueued = 64 << 10
	// h2KeepBuf is the largest write buffer a connection keeps between
	// writes.
	h2KeepBuf = 16 << 10
	// h2MaxControlQueue bounds the bytes queued for a client that sends
	// frames needing an answer (PING, SETTINGS, a reset) faster than it
	// reads the answers: beyond it the connection is closed.
	h2MaxControlQueue = 1 << 20
	// h2MaxBody is the largest request body the fast path takes: the
	// default initial window, so the client sends it without waiting for
	// a WINDOW_UPDATE. h2MaxConnBodies bounds the body bytes a connection
	// holds at once.
	h2MaxBody       = h2DefaultWindow
	h2MaxConnBodies = 1 << 20
	// h2Linger is how long a connection that sent GOAWAY keeps reading
	// once its streams are done, so that closing does not reset what the
	// client has yet to read.
	h2Linger = time.Second
)

// A client's settings until its SETTINGS frame says otherwise, and the
// largest window (RFC 9113 6.5.2, 6.9.1).
const (
	h2DefaultWindow   = 65535
	h2DefaultFrame    = 16384
	h2MaxWindow       = 1<<31 - 1
	h2DefaultTableLen = 4096
)

// h2Conn is one client connection served by the HTTP/2 fast path.
type h2Conn struct {
	s      *fastServer
	p      *Proxy
	fc     *fastConn
	tc     *tls.Conn
	fr     *http2.Framer // reads; the reader goroutine's own
	remote string

	// maxSeen is the highest client stream id seen (reader goroutine);
	// accepted the highest the fast path took (written by the reader
	// under wmu).
	maxSeen  uint32
	accepted uint32

	streamWG sync.WaitGroup
	writerWG sync.WaitGroup
	wake     chan struct{}
	active   atomic.Int32
	// bodies is the request body bytes the connection's streams hold.
	bodies atomic.Int64

	// wmu guards the queued output, the encoder, the send windows and the
	// streams; cond signals window updates, drained output and closing.
	wmu       sync.Mutex
	cond      sync.Cond
	waiters   int
	out       []byte
	spare     []byte
	wfr       *http2.Framer // writes into out
	henc      *hpack.Encoder
	hbuf      bytes.Buffer
	sendWin   int64
	peerWin   int64 // SETTINGS_INITIAL_WINDOW_SIZE
	peerFrame int   // SETTINGS_MAX_FRAME_SIZE
	streams   map[uint32]*h2Stream
	goneAway  bool // GOAWAY sent: no new streams
	closed    bool // the connection broke or is closing: nothing more is sent
	writeErr  bool
}

// h2Stream is one request being served.
type h2Stream struct {
	c  *h2Conn
	id uint32
	h2Request
	win   int64 // send window; c.wmu
	reset bool  // the client reset it or the connection broke; c.wmu
	// cancel is closed with reset, for a stream waiting for its body.
	cancel chan struct{}
	// body collects the request body (reader goroutine) until bodyDone
	// is closed, once all contentLength bytes arrived.
	body     []byte
	bodyDone chan struct{}
	// shortBody: the body ended before its declared length.
	shortBody bool
	// up is the upstream connection in use, taken by whichever of the
	// stream and a reset gets it first (the reset closes it).
	up atomic.Pointer[upConn]
}

// h2Request is what the fast path keeps of a request's header list.
type h2Request struct {
	method, path, authority string
	// host is the authority without port and trailing dot, for routing.
	host string
	// routePath is the path without the query.
	routePath string
	// contentLength is the declared body length, -1 without one.
	contentLength int64
	fields        []hpack.HeaderField
	// rt is the route the request was accepted on.
	rt *route
}

// recordingReader keeps what it reads while on, for a connection that may
// yet be handed over.
type recordingReader struct {
	r   io.Reader
	on  bool
	buf []byte
}

func (r *recordingReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	if r.on {
		r.buf = append(r.buf, b[:n]...)
	}
	return n, err
}

// serveH2 serves a connection that negotiated h2, or hands it to net/http;
// handedOff says which.
func (s *fastServer) serveH2(fc *fastConn, tc *tls.Conn, cs *tls.ConnectionState) (handedOff bool) {
	rec := &recordingReader{r: tc, on: true}
	handOver := func() bool {
		_ = tc.SetReadDeadline(time.Time{})
		s.handoff.give(&replayConn{Conn: tc, r: io.MultiReader(bytes.NewReader(rec.buf), tc), tls: cs})
		return true
	}
	if s.p.noFastH2 {
		return handOver()
	}
	fc.br.Reset(rec)
	br := fc.br
	_ = tc.SetReadDeadline(time.Now().Add(h2FirstRequestWait))
	var preface [len(http2.ClientPreface)]byte
	if _, err := io.ReadFull(br, preface[:]); err != nil || string(preface[:]) != http2.ClientPreface {
		return handOver()
	}
	c := &h2Conn{
		s: s, p: s.p, fc: fc, tc: tc, remote: fc.remote,
		wake:      make(chan struct{}, 1),
		sendWin:   h2DefaultWindow,
		peerWin:   h2DefaultWindow,
		peerFrame: h2DefaultFrame,
		streams:   make(map[uint32]*h2Stream),
	}
	c.cond.L = &c.wmu
	c.fr = http2.NewFramer(nil, br)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(h2DefaultTableLen, nil)
	c.fr.MaxHeaderListSize = h2MaxHeaderList
	c.wfr = http2.NewFramer(h2Out{c}, nil)
	c.henc = hpack.NewEncoder(&c.hbuf)

	// Until the first request: the client's settings and flow control,
	// applied once the connection is kept.
	var settings []http2.Setting
	sawSettings := false
	var connWin uint32
	var first *http2.MetaHeadersFrame
	for first == nil {
		if len(rec.buf) > h2MaxBeforeFirst {
			return handOver()
		}
		f, err := c.fr.ReadFrame()
		if err != nil {
			return handOver()
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if sawSettings || f.IsAck() {
				return handOver()
			}
			sawSettings = true
			_ = f.ForeachSetting(func(st http2.Setting) error { settings = append(settings, st); return nil })
		case *http2.WindowUpdateFrame:
			if !sawSettings || f.StreamID != 0 || connWin > h2MaxWindow-f.Increment {
				return handOver()
			}
			connWin += f.Increment
		case *http2.PriorityFrame:
			if !sawSettings {
				return handOver()
			}
		case *http2.MetaHeadersFrame:
			if !sawSettings || f.StreamID%2 == 0 {
				return handOver()
			}
			first = f
		default:
			return handOver()
		}
	}
	c.maxSeen = first.StreamID
	req, ok := c.route(first, true)
	if !ok {
		return handOver()
	}
	// The connection is kept: from here on nothing is handed over.
	rec.on, rec.buf = false, nil
	_ = tc.SetReadDeadline(time.Time{})
	fc.h2.Store(c)
	c.writerWG.Add(1)
	go c.writeLoop()
	c.wmu.Lock()
	_ = c.wfr.WriteSettings(
		http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: h2MaxStreams},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: h2MaxHeaderList},
	)
	c.wmu.Unlock()
	err := c.settings(settings)
	if err == nil && connWin > 0 {
		err = c.windowUpdate(0, connWin)
	}
	if err != nil {
		c.fail(err)
		c.finish()
		return false
	}
	c.accept(first.StreamID, req)
	c.readLoop()
	c.finish()
	return false
}

// h2Out is the write framer's writer: frames queue for the writer
// goroutine. c.wmu is held.
type h2Out struct{ c *h2Conn }

func (o h2Out) Write(b []byte) (int, error) {
	o.c.out = append(o.c.out, b...)
	return len(b), nil
}

// route parses a stream's request and checks that the fast path may serve
// it: ok false sends it to net/http.
func (c *h2Conn) route(f *http2.MetaHeadersFrame, first bool) (h2Request, bool) {
	if f.Truncated || c.s.closing.Load() {
		return h2Request{}, false
	}
	req, ok := parseH2Request(f.Fields, c.p.trustForwarded)
	if !ok {
		return req, false
	}
	n := req.contentLength
	if f.StreamEnded() {
		if n > 0 {
			return req, false // a length the missing body contradicts
		}
	} else if first || n <= 0 || n > h2MaxBody || c.bodies.Load()+n > h2MaxConnBodies {
		return req, false
	}
	rt := c.p.table.Load().match(req.host, req.routePath)
	if rt == nil || len(rt.targets) == 0 || rt.edge != nil && (rt.edge.plain || rt.edge.redirectTo != "") || rt.TLS == TLSOff {
		return req, false
	}
	req.rt = rt
	return req, true
}

// parseH2Request reads a request's header list; ok is false for anything
// the fast path leaves to net/http: a CONNECT or extended CONNECT, a
// missing or unusual pseudo-header, a path with percent signs (routes
// match on the decoded path), an authority that is not a lower-case host
// name, a Host field, connection-specific fields, Expect, Trailer, more
// than one or a malformed Content-Length, and forwarding headers it would
// have to trust.
func parseH2Request(fields []hpack.HeaderField, trustForwarded bool) (req h2Request, ok bool) {
	req.contentLength = -1
	var sawMethod, sawScheme, sawPath, sawAuthority bool
	for _, f := range fields {
		if f.Name == "" {
			return req, false
		}
		if f.Name[0] == ':' {
			switch f.Name {
			case ":method":
				if sawMethod {
					return req, false
				}
				sawMethod, req.method = true, f.Value
			case ":scheme":
				if sawScheme || f.Value != "https" {
					return req, false
				}
				sawScheme = true
			case ":path":
				if sawPath {
					return req, false
				}
				sawPath, req.path = true, f.Value
			case ":authority":
				if sawAuthority {
					return req, false
				}
				sawAuthority, req.authority = true, f.Value
			default:
				return req, false
			}
			continue
		}
		switch f.Name {
		case "host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
			"expect", "trailer":
			return req, false
		case "te":
			if f.Value != "trailers" {
				return req, false
			}
		case "content-length":
			n, ok := parseDecimal([]byte(f.Value))
			if !ok || req.contentLength >= 0 {
				return req, false
			}
			req.contentLength = n
		case "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host":
			if trustForwarded {
				return req, false
			}
		}
	}
	if !sawMethod || !sawScheme || !sawPath || !sawAuthority || !isToken([]byte(req.method)) || req.method == "CONNECT" {
		return req, false
	}
	p := req.path
	if p == "" || p[0] != '/' {
		return req, false
	}
	req.routePath = p
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c <= ' ' || c == 0x7f || c >= 0x80 {
			return req, false
		}
		if c == '?' && req.routePath == p {
			req.routePath = p[:i]
		}
		if c == '%' && req.routePath == p {
			return req, false
		}
	}
	a := req.authority
	if a == "" {
		return req, false
	}
	for i := 0; i < len(a); i++ {
		if c := a[i]; c >= 0x80 || !hostChars[c] {
			return req, false
		}
	}
	req.host = a
	if i := strings.LastIndexByte(a, ':'); i >= 0 && a[len(a)-1] != ']' {
		req.host = a[:i]
	}
	req.host = strings.TrimSuffix(req.host, ".")
	req.fields = fields
	return req, true
}

// readLoop reads frames until the connection ends.
func (c *h2Conn) readLoop() {
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				if err := c.streamError(se.StreamID, se.Code); err != nil {
					c.fail(err)
					return
				}
				continue
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Idle: say goodbye, as net/http does.
				err = http2.ConnectionError(http2.ErrCodeNo)
			}
			c.fail(err)
			return
		}
		if err := c.frame(f); err != nil {
			c.fail(err)
			return
		}
		c.wmu.Lock()
		flooded := len(c.out) > h2MaxControlQueue
		c.wmu.Unlock()
		if flooded {
			c.fail(http2.ConnectionError(http2.ErrCodeEnhanceYourCalm))
			return
		}
	}
}

// frame handles one frame; an error is a connection error.
func (c *h2Conn) frame(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		return c.headers(f)
	case *http2.DataFrame:
		return c.data(f)
	case *http2.RSTStreamFrame:
		id := f.StreamID
		if id > c.maxSeen && !c.ignored(id) {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		c.resetStream(id)
		return nil
	case *http2.GoAwayFrame:
		c.goAway(http2.ErrCodeNo)
		return nil
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol)
	case *http2.PriorityFrame:
		return nil
	default:
		return c.control(f)
	}
}

// control handles connection-level frames, and the settings and window
// updates read before the first request.
func (c *h2Conn) control(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if f.IsAck() {
			return nil
		}
		var ss []http2.Setting
		_ = f.ForeachSetting(func(st http2.Setting) error { ss = append(ss, st); return nil })
		return c.settings(ss)
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		c.wmu.Lock()
		_ = c.wfr.WritePing(true, f.Data)
		c.wmu.Unlock()
		c.kick()
		return nil
	case *http2.WindowUpdateFrame:
		return c.windowUpdate(f.StreamID, f.Increment)
	}
	return nil // unknown frame types are ignored
}

func (c *h2Conn) settings(ss []http2.Setting) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for _, s := range ss {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingInitialWindowSize:
			delta := int64(s.Val) - c.peerWin
			c.peerWin = int64(s.Val)
			for _, st := range c.streams {
				st.win += delta
				if st.win > h2MaxWindow {
					return http2.ConnectionError(http2.ErrCodeFlowControl)
				}
			}
		case http2.SettingMaxFrameSize:
			c.peerFrame = int(s.Val)
		case http2.SettingHeaderTableSize:
			c.henc.SetMaxDynamicTableSize(min(s.Val, h2DefaultTableLen))
		}
	}
	_ = c.wfr.WriteSettingsAck()
	c.broadcast()
	c.kick()
	return nil
}

func (c *h2Conn) windowUpdate(id, incr uint32) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if id == 0 {
		if incr == 0 {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		c.sendWin += int64(incr)
		if c.sendWin > h2MaxWindow {
			return http2.ConnectionError(http2.ErrCodeFlowControl)
		}
		c.broadcast()
		return nil
	}
	st := c.streams[id]
	if st == nil {
		if id > c.maxSeen && !c.ignoredLocked(id) {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		return nil // a closed stream
	}
	if incr == 0 {
		c.resetLocked(st, http2.ErrCodeProtocol)
		return nil
	}
	st.win += int64(incr)
	if st.win > h2MaxWindow {
		c.resetLocked(st, http2.ErrCodeFlowControl)
		return nil
	}
	c.broadcast()
	return nil
}

// headers handles a HEADERS frame: a new request, or one on a stream
// already open (the request had ended, so it is malformed).
func (c *h2Conn) headers(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 == 0 {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	if id <= c.maxSeen {
		c.wmu.Lock()
		st := c.streams[id]
		switch {
		case st == nil:
		case st.bodyDone != nil && !st.receivedBody():
			// Request trailers: net/http takes them. The stream has
			// not reached the upstream (its body is incomplete), so it
			// is refused, and retried on a new connection.
			c.resetLocked(st, http2.ErrCodeRefusedStream)
			c.goAwayLocked(http2.ErrCodeNo)
		default:
			c.resetLocked(st, http2.ErrCodeStreamClosed)
		}
		c.wmu.Unlock()
		if st == nil && !c.ignored(id) {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		return nil
	}
	c.maxSeen = id
	if c.isGoneAway() {
		return nil // not processed, as GOAWAY said
	}
	if c.active.Load() >= h2MaxStreams {
		c.wmu.Lock()
		_ = c.wfr.WriteRSTStream(id, http2.ErrCodeRefusedStream)
		c.wmu.Unlock()
		c.kick()
		return nil
	}
	req, ok := c.route(f, false)
	if !ok {
		// net/http serves it, on the client's next connection.
		c.goAway(http2.ErrCodeNo)
		return nil
	}
	c.accept(id, req)
	return nil
}

// ignored reports a stream above the GOAWAY's last stream id, whose frames
// are dropped.
func (c *h2Conn) ignored(id uint32) bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ignoredLocked(id)
}

func (c *h2Conn) ignoredLocked(id uint32) bool { return c.goneAway && id > c.accepted }

func (c *h2Conn) isGoneAway() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.goneAway
}

// data handles a DATA frame: no stream the fast path serves takes a body.
func (c *h2Conn) data(f *http2.DataFrame) error {
	id := f.StreamID
	if id > c.maxSeen && !c.ignored(id) {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	if n := f.Length; n > 0 {
		// Give the connection window back: the bytes are dropped.
		c.wmu.Lock()
		_ = c.wfr.WriteWindowUpdate(0, n)
		c.wmu.Unlock()
		c.kick()
	}
	if c.ignored(id) {
		return nil
	}
	c.wmu.Lock()
	st := c.streams[id]
	c.wmu.Unlock()
	if st == nil || st.bodyDone == nil || st.receivedBody() {
		return c.streamError(id, http2.ErrCodeStreamClosed)
	}
	// Only the reader goroutine touches the body until bodyDone closes.
	data := f.Data()
	if int64(len(st.body)+len(data)) > st.contentLength {
		// More than the declared length: malformed (RFC 9113 8.1.1).
		return c.streamError(id, http2.ErrCodeProtocol)
	}
	st.body = append(st.body, data...)
	if f.StreamEnded() {
		// Less is answered 400 as net/http's server has the handler do.
		st.shortBody = int64(len(st.body)) != st.contentLength
		close(st.bodyDone)
	}
	return nil
}

// receivedBody reports a stream whose body is complete.
func (st *h2Stream) receivedBody() bool {
	select {
	case <-st.bodyDone:
		return true
	default:
		return false
	}
}

// streamError resets a stream the client got wrong. One that is not open
// is not one the fast path accepted: the error closes the connection.
func (c *h2Conn) streamError(id uint32, code http2.ErrCode) error {
	if id > c.maxSeen {
		// A new stream whose header list is invalid: net/http answers
		// it, on the client's next connection.
		c.maxSeen = id
		c.goAway(http2.ErrCodeNo)
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.ignoredLocked(id) {
		return nil
	}
	if st := c.streams[id]; st != nil {
		c.resetLocked(st, code)
		return nil
	}
	_ = c.wfr.WriteRSTStream(id, code)
	c.kick()
	return nil
}

// accept starts serving a stream.
func (c *h2Conn) accept(id uint32, req h2Request) {
	st := &h2Stream{c: c, id: id, h2Request: req, cancel: make(chan struct{})}
	if req.contentLength > 0 {
		st.body = make([]byte, 0, req.contentLength)
		st.bodyDone = make(chan struct{})
		c.bodies.Add(req.contentLength)
	}
	c.wmu.Lock()
	st.win = c.peerWin
	c.streams[id] = st
	c.accepted = id
	// The count, the idle state and the read deadline change together,
	// under c.wmu, so that a stream ending and one starting cannot leave
	// a busy connection marked idle.
	if c.active.Add(1) == 1 {
		// Busy: off the idle timeout and the limiter's idle list.
		_ = c.tc.SetReadDeadline(time.Time{})
		if v := c.fc.cc.state.Load(); v&1 == 0 {
			c.fc.cc.setBusy(v)
		}
	}
	c.wmu.Unlock()
	c.streamWG.Add(1)
	go c.serveStream(st)
}

// done ends a stream the fast path served.
func (c *h2Conn) done(st *h2Stream) {
	if st.bodyDone != nil {
		c.bodies.Add(-st.contentLength)
	}
	c.wmu.Lock()
	delete(c.streams, st.id)
	if c.active.Add(-1) == 0 {
		c.fc.cc.setIdle()
		wait := idleConnTimeout
		if c.goneAway {
			wait = h2Linger
		}
		_ = c.tc.SetReadDeadline(time.Now().Add(wait))
	}
	c.wmu.Unlock()
	c.streamWG.Done()
}

// goAway stops accepting streams: the client learns which it sent were not
// processed; the connection closes once the others are done.
func (c *h2Conn) goAway(code http2.ErrCode) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.goAwayLocked(code)
}

// goAwayLocked sends GOAWAY unless it was; with no stream left the
// connection lingers, then closes. c.wmu is held.
func (c *h2Conn) goAwayLocked(code http2.ErrCode) {
	if c.goneAway || c.closed {
		return
	}
	c.goneAway = true
	_ = c.wfr.WriteGoAway(c.accepted, code, nil)
	c.kick()
	if c.active.Load() == 0 {
		_ = c.tc.SetReadDeadline(time.Now().Add(h2Linger))
	}
}

// drain is called by the server's shutdown: GOAWAY, finish, close.
func (c *h2Conn) drain() { c.goAway(http2.ErrCodeNo) }

// fail ends the connection after a connection error, telling the client
// when it is one of the protocol.
func (c *h2Conn) fail(err error) {
	var ce http2.ConnectionError
	c.wmu.Lock()
	if errors.As(err, &ce) && !c.goneAway && !c.closed {
		c.goneAway = true
		_ = c.wfr.WriteGoAway(c.accepted, http2.ErrCode(ce), nil)
		c.kick()
	}
	c.wmu.Unlock()
}

// finish closes the connection once the reader stopped: streams still
// running are reset, the writer sends what is queued (within a second),
// then the connection closes.
func (c *h2Conn) finish() {
	c.wmu.Lock()
	for _, st := range c.streams {
		c.resetLocked(st, http2.ErrCodeCancel)
	}
	c.wmu.Unlock()
	c.streamWG.Wait()
	c.wmu.Lock()
	c.closed = true
	c.broadcast()
	c.wmu.Unlock()
	_ = c.tc.SetWriteDeadline(time.Now().Add(h2Linger))
	c.kick()
	c.writerWG.Wait()
	c.fc.h2.Store(nil)
}

// resetStream handles the client's RST_STREAM.
func (c *h2Conn) resetStream(id uint32) {
	c.wmu.Lock()
	if st := c.streams[id]; st != nil && !st.reset {
		st.reset = true
		close(st.cancel)
		c.broadcast()
		if up := st.up.Swap(nil); up != nil {
			_ = up.conn.Close()
		}
	}
	c.wmu.Unlock()
}

// resetLocked resets a stream on the server's side. c.wmu is held.
func (c *h2Conn) resetLocked(st *h2Stream, code http2.ErrCode) {
	if st.reset {
		return
	}
	st.reset = true
	close(st.cancel)
	if !c.closed {
		_ = c.wfr.WriteRSTStream(st.id, code)
		c.kick()
	}
	c.broadcast()
	if up := st.up.Swap(nil); up != nil {
		_ = up.conn.Close()
	}
}

func (c *h2Conn) broadcast() {
	if c.waiters > 0 {
		c.cond.Broadcast()
	}
}

// kick wakes the writer.
func (c *h2Conn) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// writeLoop sends the queued frames. A stream that finishes while a write
// is in progress queues behind it, so busy connections send many
// responses per TLS record and syscall.
func (c *h2Conn) writeLoop() {
	defer c.writerWG.Done()
	for {
		<-c.wake
		for {
			// Let the streams that are ready run first: their frames
			// then go out in this write, not in one each (about a third
			// fewer write syscalls under load).
			runtime.Gosched()
			c.wmu.Lock()
			buf := c.out
			closed := c.closed
			if len(buf) == 0 || c.writeErr {
				c.wmu.Unlock()
				if closed {
					return
				}
				break
			}
			c.out = c.spare[:0]
			c.wmu.Unlock()
			_, err := c.tc.Write(buf)
			c.wmu.Lock()
			if cap(buf) > h2KeepBuf {
				buf = nil // a large response's: not kept while idle
			}
			c.spare = buf[:0]
			if err != nil {
				c.writeErr = true
				c.closed = true
				for _, st := range c.streams {
					if !st.reset {
						st.reset = true
						close(st.cancel)
					}
				}
				_ = c.fc.cc.Close()
			}
			c.broadcast()
			c.wmu.Unlock()
		}
	}
}

// waitLocked waits for a change of windows, queue or state. c.wmu is held.
func (c *h2Conn) waitLocked() {
	c.waiters++
	c.kick()
	c.cond.Wait()
	c.waiters--
}

var errStreamGone = errors.New("http2 stream reset or connection closed")

// writeHeaders queues a HEADERS frame (and CONTINUATIONs) whose fields
// encode writes with the connection's encoder.
func (st *h2Stream) writeHeaders(endStream bool, encode func(enc *hpack.Encoder)) error {
	c := st.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for len(c.out) >= h2MaxQueued && !st.reset && !c.closed {
		c.waitLocked()
	}
	if st.reset || c.closed {
		return errStreamGone
	}
	c.hbuf.Reset()
	encode(c.henc)
	block := c.hbuf.Bytes()
	first := true
	for first || len(block) > 0 {
		frag := block[:min(len(block), c.peerFrame)]
		block = block[len(frag):]
		if first {
			_ = c.wfr.WriteHeaders(http2.HeadersFrameParam{StreamID: st.id, BlockFragment: frag, EndStream: endStream, EndHeaders: len(block) == 0})
			first = false
		} else {
			_ = c.wfr.WriteContinuation(st.id, len(block) == 0, frag)
		}
	}
	return nil
}

// writeData queues b as DATA frames within the flow-control windows,
// waiting for them to open.
func (st *h2Stream) writeData(b []byte, endStream bool) error {
	c := st.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for {
		if st.reset || c.closed {
			return errStreamGone
		}
		if len(b) == 0 {
			if endStream {
				_ = c.wfr.WriteData(st.id, true, nil)
			}
			return nil
		}
		n := int64(min(len(b), c.peerFrame))
		n = min(n, st.win, c.sendWin)
		if n <= 0 || len(c.out) >= h2MaxQueued {
			c.waitLocked()
			continue
		}
		st.win -= n
		c.sendWin -= n
		last := int(n) == len(b)
		_ = c.wfr.WriteData(st.id, endStream && last, b[:n])
		if last {
			return nil
		}
		b = b[n:]
	}
}

// serveStream forwards one request, as fastForward does for HTTP/1.1.
func (c *h2Conn) serveStream(st *h2Stream) {
	defer c.done(st)
	p := c.p
	if st.bodyDone != nil {
		select {
		case <-st.bodyDone:
		case <-st.cancel:
			return
		}
	}
	var start time.Time
	logging := p.log != nil && p.log.Enabled(context.Background(), slog.LevelInfo)
	rt := st.rt
	stats := rt.stats
	if logging || stats != nil {
		start = time.Now()
	}
	hsts := ""
	if rt.edge != nil {
		hsts = rt.edge.hsts
	}
	var res result
	a := newTries(p, rt, st, idempotent(st.method))
	if st.shortBody {
		res.status = http.StatusBadRequest
		_ = st.simple(res.status, fmt.Sprintf("quai: reading the request body: %v: request declared a Content-Length of %d but only wrote %d bytes\n",
			errClientBody, st.contentLength, len(st.body)), hsts)
		a.max = 0
	}
	for t := a.next(&res); t != nil; t = a.next(&res) {
		var err error
		res.status, res.written, err = st.roundTrip(p, t, a.fresh, hsts)
		if !a.after(&res, t, err, err != nil && st.gone()) {
			res.truncated = err != nil && res.status != 0
			break
		}
	}
	rt = a.rt
	if res.status == 0 {
		res.status = http502
		_ = st.simple(http502, "quai: upstream for "+rt.Host+rt.Path+" failed\n", hsts)
	}
	if res.truncated {
		c.wmu.Lock()
		c.resetLocked(st, http2.ErrCodeInternal)
		c.wmu.Unlock()
	}
	if stats != nil {
		stats.observe(res.status, time.Since(start), max(st.contentLength, 0), res.written)
		stats.attempts(res.retries, res.failed)
	}
	if logging {
		p.log.LogAttrs(context.Background(), slog.LevelInfo, "request",
			slog.String("method", st.method),
			slog.String("host", st.host),
			slog.String("path", st.routePath),
			slog.Int("status", res.status),
			slog.Int64("bytes", res.written),
			slog.Duration("dur", time.Since(start)),
			slog.String("upstream", res.target.addrOrEmpty()),
			slog.String("remote", c.remote),
		)
	}
}

func (st *h2Stream) rematch(t *table) *route { return t.match(st.host, st.routePath) }

func (st *h2Stream) gone() bool {
	st.c.wmu.Lock()
	defer st.c.wmu.Unlock()
	return st.reset || st.c.closed
}

// simple answers with a short plain-text response, as plainError does,
// with the route's Strict-Transport-Security (hsts) when set.
func (st *h2Stream) simple(status int, msg, hsts string) error {
	head := st.method == "HEAD"
	err := st.writeHeaders(head, func(enc *hpack.Encoder) {
		_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: statusString(status)})
		_ = enc.WriteField(hpack.HeaderField{Name: "content-type", Value: "text/plain; charset=utf-8"})
		_ = enc.WriteField(hpack.HeaderField{Name: "x-content-type-options", Value: "nosniff"})
		_ = enc.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(msg))})
		if hsts != "" {
			_ = enc.WriteField(hpack.HeaderField{Name: "strict-transport-security", Value: hsts})
		}
		_ = enc.WriteField(hpack.HeaderField{Name: "date", Value: httpDate()})
	})
	if err == nil && !head {
		err = st.writeData([]byte(msg), true)
	}
	st.c.kick()
	return err
}

// roundTrip sends the request to t and relays the response. It returns a
// zero status with an error when nothing was sent to the client.
func (st *h2Stream) roundTrip(p *Proxy, t *target, fresh bool, hsts string) (status int, written int64, err error) {
	up, reused, err := t.getConn(context.Background(), &p.dialer, fresh)
	if err != nil {
		t.markDown()
		return 0, 0, &upstreamError{err: err, beforeResponse: true}
	}
	t.markUp()
	st.up.Store(up)
	if st.gone() {
		if st.up.Swap(nil) != nil {
			up.close()
		}
		return 0, 0, errStreamGone
	}
	status, written, upKeep, err := st.exchange(up, reused, hsts)
	if st.up.Swap(nil) == nil {
		// A reset closed the connection under the exchange.
		up.close()
		if err == nil {
			err = errStreamGone
		}
		return status, written, err
	}
	if upKeep && err == nil {
		t.putConn(up)
	} else {
		up.close()
	}
	return status, written, err
}

// exchange writes the request head and relays the response; upKeep says
// whether the upstream connection can serve another request.
func (st *h2Stream) exchange(up *upConn, reused bool, hsts string) (status int, written int64, upKeep bool, err error) {
	writeH2Head(up.bw, &st.h2Request, st.c.remote, len(st.body))
	_, _ = up.bw.Write(st.body)
	if err := up.bw.Flush(); err != nil {
		return 0, 0, false, &upstreamError{err: err, beforeResponse: true, reused: reused}
	}
	n, status, err := readResponseHead(up.br)
	if err != nil {
		if errors.Is(err, errNoResponse) {
			return 0, 0, false, &upstreamError{err: err, beforeResponse: true, reused: reused}
		}
		return 0, 0, false, err
	}
	head, _ := up.br.Peek(n)
	resp, ok := parseFastResponse(head)
	if !ok {
		return 0, 0, false, errors.New("malformed upstream response header")
	}
	noBody := st.method == "HEAD" || status == 204 || status == 304
	closeDelimited := !noBody && !resp.chunked && resp.contentLength < 0
	upKeep = !resp.close && !closeDelimited
	endNow := noBody || !resp.chunked && resp.contentLength == 0
	herr := st.writeHeaders(endNow, func(enc *hpack.Encoder) { encodeResponseHead(enc, head, &resp, status, hsts) })
	_, _ = up.br.Discard(n)
	if herr != nil {
		return status, 0, false, herr
	}
	switch {
	case endNow:
	case resp.chunked:
		written, err = st.relayChunked(up.br)
	default:
		written, err = st.relay(up.br, resp.contentLength, true)
	}
	st.c.kick()
	if err != nil {
		return status, written, false, err
	}
	return status, written, upKeep, nil
}

// relay sends n bytes of body (until EOF when n < 0) as DATA frames, the
// last one ending the stream when end is set.
func (st *h2Stream) relay(src *bufio.Reader, n int64, end bool) (int64, error) {
	var written int64
	for n != 0 {
		if src.Buffered() == 0 {
			st.c.kick()
			if _, err := src.Peek(1); err != nil {
				if n < 0 && errors.Is(err, io.EOF) {
					return written, st.writeData(nil, true)
				}
				return written, err
			}
		}
		chunk := src.Buffered()
		if n >= 0 && int64(chunk) > n {
			chunk = int(n)
		}
		b, _ := src.Peek(chunk)
		if n > 0 {
			n -= int64(chunk)
		}
		if err := st.writeData(b, end && n == 0); err != nil {
			return written, err
		}
		written += int64(chunk)
		_, _ = src.Discard(chunk)
	}
	return written, nil
}

// relayChunked decodes a chunked body into DATA frames, with the strictness
// of copyChunked; trailer fields become a trailing HEADERS frame.
func (st *h2Stream) relayChunked(src *bufio.Reader) (int64, error) {
	var written int64
	for {
		if src.Buffered() == 0 {
			st.c.kick()
		}
		line, err := src.ReadSlice('\n')
		if err != nil || !isCRLFLine(line) || len(line)-2 >= maxChunkLineSize {
			return written, errBadChunk
		}
		size, ok := parseChunkSize(line[:len(line)-2])
		if !ok {
			return written, errBadChunk
		}
		if size == 0 {
			return written, st.relayTrailers(src)
		}
		m, err := st.relay(src, size, false)
		written += m
		if err != nil {
			return written, err
		}
		if err := chunkEnd(src); err != nil {
			return written, err
		}
	}
}

// relayTrailers reads the trailer section of a chunked body and ends the
// stream with it.
func (st *h2Stream) relayTrailers(src *bufio.Reader) error {
	var trailers [][2]string
	for {
		tl, err := src.ReadSlice('\n')
		if err != nil || !isCRLFLine(tl) {
			return errBadChunk
		}
		if len(tl) == 2 {
			break
		}
		name, value, valid := splitField(tl[:len(tl)-2])
		if !valid {
			return errBadChunk
		}
		if !hopHeaderBytes(name) && !asciiEqualFoldBytes(name, "content-length") {
			trailers = append(trailers, [2]string{lowerName(name), string(value)})
		}
	}
	if len(trailers) == 0 {
		return st.writeData(nil, true)
	}
	return st.writeHeaders(true, func(enc *hpack.Encoder) {
		for _, kv := range trailers {
			_ = enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
		}
	})
}

// encodeResponseHead encodes an upstream response head as HTTP/2 fields:
// the head's fields minus hop-by-hop ones, names in lower case, the
// route's Strict-Transport-Security over the upstream's, and a Date when
// the upstream sent none (as net/http adds one).
func encodeResponseHead(enc *hpack.Encoder, head []byte, resp *fastResponse, status int, hsts string) {
	_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: statusString(status)})
	_, rest, _ := bytes.Cut(head, crlf)
	sawDate := false
	for len(rest) > 2 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, crlf)
		name, value, _ := splitField(h)
		if hopHeaderBytes(name) || resp.listedInConnection(name) || hsts != "" && asciiEqualFoldBytes(name, "strict-transport-security") {
			continue
		}
		lname := lowerName(name)
		if lname == "date" {
			sawDate = true
		}
		_ = enc.WriteField(hpack.HeaderField{Name: lname, Value: string(value)})
	}
	if hsts != "" {
		_ = enc.WriteField(hpack.HeaderField{Name: "strict-transport-security", Value: hsts})
	}
	if !sawDate {
		_ = enc.WriteField(hpack.HeaderField{Name: "date", Value: httpDate()})
	}
}

// writeH2Head writes the HTTP/1.1 request head for the upstream as
// writeHead does for net/http's requests: the client's fields minus the
// ones the proxy does not pass on, names in canonical form, cookie fields
// joined into one (RFC 9113 8.2.3), then the forwarding headers.
func writeH2Head(bw *bufio.Writer, r *h2Request, remote string, bodyLen int) {
	_, _ = bw.WriteString(r.method)
	_ = bw.WriteByte(' ')
	_, _ = bw.WriteString(r.path)
	_, _ = bw.WriteString(" HTTP/1.1\r\nHost: ")
	_, _ = bw.WriteString(r.authority)
	_, _ = bw.WriteString("\r\n")
	cookies := 0
	for _, f := range r.fields {
		if f.Name[0] == ':' {
			continue
		}
		switch f.Name {
		case "cookie":
			cookies++
			continue
		case "te", "content-length", "proxy-authenticate", "proxy-authorization",
			"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host":
			continue
		}
		writeCanonical(bw, f.Name)
		_, _ = bw.WriteString(": ")
		_, _ = bw.WriteString(f.Value)
		_, _ = bw.WriteString("\r\n")
	}
	if cookies > 0 {
		_, _ = bw.WriteString("Cookie: ")
		sep := false
		for _, f := range r.fields {
			if f.Name == "cookie" {
				if sep {
					_, _ = bw.WriteString("; ")
				}
				_, _ = bw.WriteString(f.Value)
				sep = true
			}
		}
		_, _ = bw.WriteString("\r\n")
	}
	_, _ = bw.WriteString("X-Forwarded-For: ")
	_, _ = bw.WriteString(remote)
	_, _ = bw.WriteString("\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: ")
	_, _ = bw.WriteString(r.authority)
	_, _ = bw.WriteString("\r\n")
	switch {
	case bodyLen > 0:
		var num [20]byte
		_, _ = bw.WriteString("Content-Length: ")
		_, _ = bw.Write(strconv.AppendInt(num[:0], int64(bodyLen), 10))
		_, _ = bw.WriteString("\r\n")
	case r.method == "POST" || r.method == "PUT" || r.method == "PATCH":
		_, _ = bw.WriteString("Content-Length: 0\r\n")
	}
	_, _ = bw.WriteString("\r\n")
}

// writeCanonical writes a lower-case field name in net/http's canonical
// form: upper case at the start and after each hyphen.
func writeCanonical(bw *bufio.Writer, name string) {
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		upper = c == '-'
		_ = bw.WriteByte(c)
	}
}

// lowerNames are the lower-case forms of common response field names, so
// that encoding them does not allocate.
var lowerNames = func() map[string]string {
	m := make(map[string]string)
	for _, n := range []string{
		"accept-ranges", "access-control-allow-origin", "age", "cache-control", "content-disposition",
		"content-encoding", "content-language", "content-length", "content-location", "content-range",
		"content-security-policy", "content-type", "date", "etag", "expires", "last-modified", "link",
		"location", "referrer-policy", "retry-after", "server", "set-cookie", "strict-transport-security",
		"vary", "via", "www-authenticate", "x-content-type-options", "x-frame-options", "x-request-id",
	} {
		m[n] = n
		var b strings.Builder
		up := true
		for i := 0; i < len(n); i++ {
			c := n[i]
			if up && 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			up = c == '-'
			b.WriteByte(c)
		}
		m[b.String()] = n
	}
	return m
}()

func lowerName(name []byte) string {
	if s, ok := lowerNames[string(name)]; ok {
		return s
	}
	return strings.ToLower(string(name))
}

// statusStrings are the three-digit status codes as strings.
var statusStrings = func() (t [1000]string) {
	for i := 100; i < 1000; i++ {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func statusString(code int) string {
	if code >= 100 && code < 1000 {
		return statusStrings[code]
	}
	return strconv.Itoa(code)
}

// dateCache holds the current second's Date value.
var dateCache atomic.Pointer[cachedDate]

type cachedDate struct {
	sec int64
	s   string
}

func httpDate() string {
	now := time.Now()
	if d := dateCache.Load(); d != nil && d.sec == now.Unix() {
		return d.s
	}
	d := &cachedDate{sec: now.Unix(), s: now.UTC().Format(timeFormatGMT)}
	dateCache.Store(d)
	return d.s
}

// timeFormatGMT is http.TimeFormat.
const timeFormatGMT = "Mon, 02 Jan 2006 15:04:05 GMT"
