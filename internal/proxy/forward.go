package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync"
)

const (
	// maxAttempts bounds how many targets one idempotent request tries.
	maxAttempts = 3
	// maxReplayBody is the largest request body kept in memory so that an
	// idempotent request with a body can be retried on another target.
	maxReplayBody = 64 << 10
	copyBufSize   = 32 << 10
)

var (
	errNoResponse = errors.New("upstream closed the connection before responding")
	// errClientBody wraps a failure to read the client's request body.
	errClientBody = errors.New("malformed or incomplete request body")
)

// bufPool holds body copy buffers; pointers avoid an allocation per Put.
var bufPool = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// upstreamError reports a failed exchange with a target in which no
// response byte arrived (beforeResponse), so an idempotent request may be
// retried; reused says it happened on a pooled connection.
type upstreamError struct {
	err            error
	beforeResponse bool
	reused         bool
}

func (e *upstreamError) Error() string { return e.err.Error() }
func (e *upstreamError) Unwrap() error { return e.err }

// result is what a proxied request produced, for the access log.
type result struct {
	status  int
	written int64
	target  *target
	// truncated: the response header went out but the body broke off.
	truncated bool
	// retries counts attempts beyond the first, failed the attempts that
	// did not reach their target (for the route's statistics).
	retries, failed int
}

// forward proxies one plain (non-upgrade) request to the route's targets.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, rt *route) result {
	if len(rt.targets) == 0 {
		return result{status: p.unavailable(w, r, canonicalHost(r.Host))}
	}
	var body []byte
	replayable := idempotent(r.Method)
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		switch {
		case replayable && r.ContentLength > 0 && r.ContentLength <= maxReplayBody:
			bp := bufPool.Get().(*[]byte)
			defer bufPool.Put(bp)
			buf := (*bp)[:0]
			if int64(cap(buf)) < r.ContentLength {
				buf = make([]byte, 0, r.ContentLength)
			}
			buf = buf[:r.ContentLength]
			if _, err := io.ReadFull(r.Body, buf); err != nil {
				return result{status: p.plainError(w, http.StatusBadRequest, "quai: reading the request body: %v\n", err)}
			}
			body = buf
		default:
			replayable = false
		}
	}
	attempts := 1
	if replayable {
		attempts = min(maxAttempts, len(rt.targets))
	}
	var tried [maxAttempts]*target
	n := 0
	var res result
	fresh := false
	calls := 0
	for {
		if !fresh {
			if n == attempts {
				break
			}
			res.target = p.acquire(&rt, stdRequest{r}, tried[:n])
			if res.target == nil {
				break
			}
			tried[n] = res.target
			n++
		}
		t := res.target
		var err error
		if calls > 0 {
			res.retries++
		}
		calls++
		res.status, res.written, err = p.roundTrip(w, r, t, body, fresh)
		if err != nil && res.status == 0 && !errors.Is(err, errClientBody) {
			res.failed++
		}
		retry, reused := retryable(err, replayable)
		// A reused connection the upstream had just closed says nothing
		// about the target: try it once more on a new connection, still
		// counted on it.
		fresh = retry && reused && !fresh
		if !fresh {
			t.inflight.Add(-1)
		}
		if !retry {
			res.truncated = errors.Is(err, errTruncated)
			if err == nil || res.status != 0 {
				return res
			}
			if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
				res.status = p.plainError(w, http.StatusRequestEntityTooLarge, "quai: the request body is larger than %d bytes\n", tooLarge.Limit)
				return res
			}
			if errors.Is(err, errClientBody) {
				// The client's own framing is broken (a malformed chunk
				// size): its fault, not the upstream's.
				res.status = p.plainError(w, http.StatusBadRequest, "quai: reading the request body: %v\n", errors.Unwrap(err))
				return res
			}
			break
		}
	}
	if res.status == 0 {
		res.status = p.plainError(w, http.StatusBadGateway, "quai: upstream for %s%s failed\n", rt.Host, rt.Path)
	}
	return res
}

// acquire picks a target for r and counts the request on it. When the
// table was swapped between routing and counting, the count is undone and
// the request routed again on the new table: Drain, called after the swap,
// then sees every request that can still reach an old target.
func (p *Proxy) acquire(rt **route, again rematcher, tried []*target) *target {
	for {
		tbl := (*rt).table
		t := (*rt).pick(tried)
		if t == nil {
			return nil
		}
		t.inflight.Add(1)
		cur := p.table.Load()
		if cur == tbl {
			return t
		}
		t.inflight.Add(-1)
		next := again.rematch(cur)
		if next == nil || len(next.targets) == 0 {
			return nil
		}
		*rt = next
	}
}

// tries walks the attempts of one request of a fast path over its route's
// targets: up to maxAttempts different targets when the request can be
// replayed, and one more try on a new connection to the same target when
// a reused connection failed before any response (a keep-alive race says
// nothing about the target). Each attempt is counted on the target from
// next until after.
type tries struct {
	p          *Proxy
	rt         *route
	again      rematcher
	replayable bool
	max, n     int
	calls      int
	// fresh asks the next attempt for a new connection.
	fresh bool
	tried [maxAttempts]*target
}

func newTries(p *Proxy, rt *route, again rematcher, replayable bool) tries {
	a := tries{p: p, rt: rt, again: again, replayable: replayable, max: 1}
	if replayable {
		a.max = min(maxAttempts, len(rt.targets))
	}
	return a
}

// next returns the target of the next attempt, nil when none is left.
func (a *tries) next(res *result) *target {
	if !a.fresh {
		if a.n == a.max {
			return nil
		}
		res.target = a.p.acquire(&a.rt, a.again, a.tried[:a.n])
		if res.target == nil {
			return nil
		}
		a.tried[a.n] = res.target
		a.n++
	}
	if a.calls > 0 {
		res.retries++
	}
	a.calls++
	return res.target
}

// after takes an attempt's outcome and reports whether to try again; stop
// ends the tries whatever the error.
func (a *tries) after(res *result, t *target, err error, stop bool) bool {
	if err != nil && res.status == 0 {
		res.failed++
	}
	retry, reused := retryable(err, a.replayable)
	retry = retry && !stop
	a.fresh = retry && reused && !a.fresh
	if !a.fresh {
		t.inflight.Add(-1)
	}
	return retry
}

// rematcher routes a request again on the table that replaced the one it
// was routed on; acquire calls it only when a swap raced with the request.
type rematcher interface{ rematch(*table) *route }

// stdRequest is a pointer-shaped wrapper, so making it a rematcher does not
// allocate.
type stdRequest struct{ r *http.Request }

func (s stdRequest) rematch(t *table) *route { return t.match(canonicalHost(s.r.Host), s.r.URL.Path) }

// retryable reports whether a failed attempt may be repeated, and whether
// it failed on a reused connection. The error is inspected only when there
// is one, so the success path does not allocate for errors.As.
func retryable(err error, replayable bool) (retry, reused bool) {
	if err == nil || !replayable {
		return false, false
	}
	var ue *upstreamError
	if !errors.As(err, &ue) || !ue.beforeResponse {
		return false, false
	}
	return true, ue.reused
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	}
	return false
}

// roundTrip sends r to t and streams the response to w. It returns a zero
// status with an error when nothing was written to w.
func (p *Proxy) roundTrip(w http.ResponseWriter, r *http.Request, t *target, body []byte, fresh bool) (int, int64, error) {
	c, reused, err := t.getConn(r.Context(), &p.dialer, fresh)
	if err != nil {
		t.markDown()
		return 0, 0, &upstreamError{err: err, beforeResponse: true}
	}
	t.markUp()
	// Abort the upstream exchange when the client goes away, so a long
	// poll does not hold a connection for nothing.
	stop := context.AfterFunc(r.Context(), func() { _ = c.conn.Close() })
	status, n, err := p.exchange(w, r, c, body, reused)
	if !stop() && err == nil {
		// The client left just as the exchange ended; the connection is
		// being closed under us.
		err = r.Context().Err()
	}
	if err != nil {
		c.close()
		if errors.Is(err, errConnClose) {
			err = nil
		}
		return status, n, err
	}
	t.putConn(c)
	return status, n, nil
}

// exchange writes the request and copies the response. On a nil error the
// connection is ready for the next request.
func (p *Proxy) exchange(w http.ResponseWriter, r *http.Request, c *upConn, body []byte, reused bool) (int, int64, error) {
	// HTTP/2 gives a non-nil Body even for a known length of zero.
	streamBody := body == nil && r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	bodyLen := int64(len(body))
	if streamBody {
		bodyLen = r.ContentLength
	}
	writeHead(c.bw, r, p.trustForwarded, false, bodyLen)
	if body != nil {
		_, _ = c.bw.Write(body)
	}
	if streamBody {
		if err := copyRequestBody(c.bw, r); err != nil {
			return 0, 0, fmt.Errorf("sending the request body: %w", err)
		}
	}
	if err := c.bw.Flush(); err != nil {
		return 0, 0, &upstreamError{err: err, beforeResponse: !streamBody, reused: reused}
	}
	if _, err := c.br.Peek(1); err != nil {
		return 0, 0, &upstreamError{err: fmt.Errorf("%w: %w", errNoResponse, err), beforeResponse: true, reused: reused}
	}
	resp, err := readResponse(c.br, r)
	if err != nil {
		return 0, 0, fmt.Errorf("reading the response header: %w", err)
	}
	return p.copyResponse(w, resp)
}

// readResponse skips interim 1xx responses: the client's own
// "Expect: 100-continue" was already answered by the server side.
func readResponse(br *bufio.Reader, r *http.Request) (*http.Response, error) {
	for {
		resp, err := http.ReadResponse(br, r)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
		if resp.StatusCode < 100 {
			_ = resp.Body.Close()
			return nil, fmt.Errorf("invalid status %d", resp.StatusCode)
		}
	}
}

// copyRequestBody sends the client's body to the upstream; an error
// reading it is errClientBody, one writing it an upstreamError.
func copyRequestBody(bw *bufio.Writer, r *http.Request) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	var err error
	if r.ContentLength > 0 {
		var n int64
		n, err = io.CopyBuffer(upstreamWriter{bw}, io.LimitReader(r.Body, r.ContentLength), *bp)
		if err == nil && n < r.ContentLength {
			err = io.ErrUnexpectedEOF
		}
	} else {
		cw := httputil.NewChunkedWriter(upstreamWriter{bw})
		if _, err = io.CopyBuffer(writerOnly{cw}, r.Body, *bp); err == nil {
			err = cw.Close()
		}
		if err == nil {
			_, err = upstreamWriter{bw}.Write(crlf)
		}
	}
	var ue *upstreamError
	if err != nil && !errors.As(err, &ue) {
		return fmt.Errorf("%w: %w", errClientBody, err)
	}
	return err
}

// writerOnly hides ReadFrom so CopyBuffer uses the pooled buffer.
type writerOnly struct{ io.Writer }

// upstreamWriter writes to an upstream connection, hiding ReadFrom as
// writerOnly does; its errors are upstreamErrors, so that a failed copy
// tells the client's broken body from the upstream's broken connection.
type upstreamWriter struct{ bw *bufio.Writer }

func (u upstreamWriter) Write(b []byte) (int, error) {
	n, err := u.bw.Write(b)
	if err != nil {
		err = &upstreamError{err: err}
	}
	return n, err
}

// copyResponse streams resp to w. A nil error means the body was read to
// its end and the upstream connection may be reused.
func (p *Proxy) copyResponse(w http.ResponseWriter, resp *http.Response) (int, int64, error) {
	h := w.Header()
	for k, vv := range resp.Header {
		if hopHeader(k) {
			continue
		}
		h[k] = vv
	}
	if conn := resp.Header["Connection"]; len(conn) > 0 {
		removeConnectionHeaders(h, conn)
	}
	if _, ok := h["Content-Type"]; !ok {
		// Keep the server side from sniffing a type the upstream did not send.
		h["Content-Type"] = nil
	}
	w.WriteHeader(resp.StatusCode)
	streaming := resp.ContentLength < 0
	bp := bufPool.Get().(*[]byte)
	buf := *bp
	var written int64
	var err error
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			written += int64(m)
			if werr != nil {
				err = werr
				break
			}
			if streaming {
				if f, ok := w.(http.Flusher); ok {
					f.Flush()
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err = fmt.Errorf("%w: %w", errTruncated, rerr)
			break
		}
	}
	bufPool.Put(bp)
	if err != nil {
		_ = resp.Body.Close()
		return resp.StatusCode, written, err
	}
	for k, vv := range resp.Trailer {
		h[http.TrailerPrefix+k] = vv
	}
	if err := resp.Body.Close(); err != nil {
		return resp.StatusCode, written, err
	}
	if resp.Close {
		return resp.StatusCode, written, errConnClose
	}
	return resp.StatusCode, written, nil
}

// errTruncated reports an upstream body that broke off after the response
// header went out: only a broken connection can tell the client.
var errTruncated = errors.New("upstream response truncated")

// errConnClose is not a failure: the upstream asked to close the connection.
var errConnClose = errors.New("upstream closes the connection")

// hopHeader reports hop-by-hop headers (RFC 9110 7.6.1) and the ones the
// proxy writes itself. Keys are canonical, as net/http parses them.
func hopHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// removeConnectionHeaders drops the headers a Connection header lists.
func removeConnectionHeaders(h http.Header, conn []string) {
	for _, v := range conn {
		forEachToken(v, func(tok string) { h.Del(tok) })
	}
}

// forEachToken calls f for each comma-separated token without allocating
// a slice. forEachTokenBytes is its twin for the fast path, where
// bytes.IndexByte finds the commas in about 40% fewer instructions than this
// loop (BenchmarkTokens); a function generic over string and []byte could
// only loop byte by byte, or copy.
func forEachToken(v string, f func(string)) {
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		tok := trimOWS(v[:i])
		if tok != "" {
			f(tok)
		}
		if i == len(v) {
			return
		}
		v = v[i+1:]
	}
}

// trimOWS trims the optional white space around a header value or token.
func trimOWS[T string | []byte](s T) T {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func listed(conn []string, name string) bool {
	found := false
	for _, v := range conn {
		forEachToken(v, func(tok string) {
			if !found && asciiEqualFold(tok, name) {
				found = true
			}
		})
	}
	return found
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// writeHead serializes the request line and headers for the upstream
// straight into its buffered writer, so forwarding headers costs no
// allocation. Errors surface at Flush.
// bodyLen is the length of the body that follows, or -1 to send it chunked.
func writeHead(bw *bufio.Writer, r *http.Request, trustForwarded, upgrade bool, bodyLen int64) {
	_, _ = bw.WriteString(r.Method)
	_ = bw.WriteByte(' ')
	if uri := r.RequestURI; uri != "" && (uri[0] == '/' || uri == "*") {
		_, _ = bw.WriteString(uri)
	} else {
		_, _ = bw.WriteString(r.URL.RequestURI())
	}
	_, _ = bw.WriteString(" HTTP/1.1\r\nHost: ")
	_, _ = bw.WriteString(r.Host)
	_, _ = bw.WriteString("\r\n")
	conn := r.Header["Connection"]
	for k, vv := range r.Header {
		switch k {
		case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
			"Te", "Trailer", "Transfer-Encoding", "Content-Length", "Expect", "Host":
			continue
		case "Upgrade":
			if !upgrade {
				continue
			}
		case "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host":
			if !trustForwarded || k == "X-Forwarded-For" {
				continue // written below
			}
		}
		if len(conn) > 0 && k != "Upgrade" && listed(conn, k) {
			continue
		}
		for _, v := range vv {
			_, _ = bw.WriteString(k)
			_, _ = bw.WriteString(": ")
			_, _ = bw.WriteString(v)
			_, _ = bw.WriteString("\r\n")
		}
	}
	if upgrade {
		_, _ = bw.WriteString("Connection: Upgrade\r\n")
	}
	_, _ = bw.WriteString("X-Forwarded-For: ")
	if prior := r.Header["X-Forwarded-For"]; trustForwarded && len(prior) > 0 {
		for _, v := range prior {
			_, _ = bw.WriteString(v)
			_, _ = bw.WriteString(", ")
		}
	}
	_, _ = bw.WriteString(clientIP(r.RemoteAddr))
	_, _ = bw.WriteString("\r\n")
	if !trustForwarded || len(r.Header["X-Forwarded-Proto"]) == 0 {
		if r.TLS != nil {
			_, _ = bw.WriteString("X-Forwarded-Proto: https\r\n")
		} else {
			_, _ = bw.WriteString("X-Forwarded-Proto: http\r\n")
		}
	}
	if !trustForwarded || len(r.Header["X-Forwarded-Host"]) == 0 {
		_, _ = bw.WriteString("X-Forwarded-Host: ")
		_, _ = bw.WriteString(r.Host)
		_, _ = bw.WriteString("\r\n")
	}
	switch {
	case bodyLen < 0:
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
	case bodyLen > 0:
		var num [20]byte
		_, _ = bw.WriteString("Content-Length: ")
		_, _ = bw.Write(strconv.AppendInt(num[:0], bodyLen, 10))
		_, _ = bw.WriteString("\r\n")
	case r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch:
		_, _ = bw.WriteString("Content-Length: 0\r\n")
	}
	_, _ = bw.WriteString("\r\n")
}

// clientIP strips the port from a RemoteAddr without allocating.
func clientIP(remote string) string {
	for i := len(remote) - 1; i >= 0; i-- {
		if remote[i] == ':' {
			remote = remote[:i]
			break
		}
	}
	if len(remote) > 1 && remote[0] == '[' && remote[len(remote)-1] == ']' {
		remote = remote[1 : len(remote)-1]
	}
	return remote
}

// plainError writes a short text error and returns its status.
func (p *Proxy) plainError(w http.ResponseWriter, status int, format string, args ...any) int {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// A plain-text body with nosniff: the quoted host in it cannot script.
	_, _ = io.WriteString(w, fmt.Sprintf(format, args...)) //nolint:gosec // G705, see above

	return status
}
