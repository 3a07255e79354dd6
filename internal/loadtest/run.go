package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// runner is one run's shared state; clients read it and touch only the
// atomics.
type runner struct {
	o       *Options
	req     []byte      // HTTP/1.1: the request as written
	head    bool        // HEAD: answers have no body
	tls     *tls.Config // https
	h2      *http.Transport
	samples *samples
	t0      time.Time // the run's start (warm-up's, when there is one)
	start   time.Time // the measured part's start
	end     time.Time // the measured part's end, with a Duration
	period  float64   // with a Rate: nanoseconds between two requests
	next    atomic.Int64
	warm    atomic.Int64
	stop    atomic.Bool // interrupted
	ctx     context.Context
}

// client is one of the run's clients: a goroutine with its own connection
// and its own tallies, which only it writes until the run ends.
type client struct {
	r   *runner
	rec recorder

	mu   sync.Mutex // guards conn and cc against the interrupt's Close
	conn net.Conn   // HTTP/1.1
	h1   *h1conn
	br   *bufio.Reader
	cc   *http.ClientConn // HTTP/2
	buf  []byte           // HTTP/2: for discarding bodies
	req  *http.Request    // HTTP/2: the request, reused

	// HTTP/2: when the request in flight started (0: none), and whether
	// the watchdog closed the connection because it took too long.
	inFlight atomic.Int64
	timedOut atomic.Bool

	codes    []StatusCount
	errs     [7]int64
	errMsg   [7]string
	sent     int64
	recv     int64
	wire     wireCount // HTTP/2: bytes on the connection
	connects int64
	connSum  time.Duration
	connMin  time.Duration
	connMax  time.Duration

	// For the progress line, read by another goroutine.
	done   atomic.Int64
	failed atomic.Int64
	_      [64]byte // keeps two clients' counters off one cache line
}

type wireCount struct{ in, out atomic.Int64 }

// Run runs the load o describes and reports what it measured. Canceling
// ctx stops it early; the report then covers what was done and says it was
// interrupted. An error means the run could not start.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	r := &runner{o: &o, samples: newSamples(o.MaxSamples, o.Requests > 0 && o.Requests <= int64(o.MaxSamples)), ctx: ctx, head: o.Method == http.MethodHead}
	if o.URL.Scheme == "https" {
		r.tls = &tls.Config{
			ServerName:         o.URL.Hostname(),
			InsecureSkipVerify: o.Insecure, //nolint:gosec // the user's --insecure, for a self-signed certificate
			MinVersion:         tls.VersionTLS12,
		}
		if h := o.Header.Get("Host"); h != "" {
			if host, _, err := net.SplitHostPort(h); err == nil {
				h = host
			}
			r.tls.ServerName = h
		}
	}
	if o.Protocol == HTTP2 {
		r.h2 = r.h2Transport()
	} else {
		r.req = buildRequest(&o)
		if r.tls != nil {
			r.tls.NextProtos = []string{"http/1.1"}
		}
	}
	if o.Rate > 0 {
		r.period = float64(time.Second) / o.Rate
	}
	clients := make([]*client, o.Clients)
	for i := range clients {
		clients[i] = &client{r: r, rec: recorder{run: r.samples}}
	}
	r.t0 = time.Now()
	r.start = r.t0.Add(o.WarmUp)
	if o.Duration > 0 {
		r.end = r.start.Add(o.Duration)
	}
	stopInterrupt := context.AfterFunc(ctx, func() {
		r.stop.Store(true)
		for _, c := range clients {
			c.closeConn()
		}
	})
	defer stopInterrupt()

	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(c.loop)
	}
	progressDone := make(chan struct{})
	var progressWG sync.WaitGroup
	if o.Progress != nil {
		progressWG.Go(func() { r.progress(clients, progressDone) })
	}
	if r.h2 != nil {
		progressWG.Go(func() { r.watchdog(clients, progressDone) })
	}
	wg.Wait()
	finished := time.Now()
	if r.period > 0 && o.Duration > 0 && !r.stop.Load() && (o.Requests == 0 || r.next.Load() < o.Requests) && finished.Before(r.end) {
		// The open model's last request was due before the end; the
		// measured window is the whole duration all the same.
		finished = r.end
	}
	close(progressDone)
	progressWG.Wait()
	for _, c := range clients {
		c.closeConn()
	}
	return r.report(clients, finished), nil
}

// h2Transport is the transport whose NewClientConn opens each client's
// HTTP/2 connection: TLS with ALPN h2, or cleartext with prior knowledge.
func (r *runner) h2Transport() *http.Transport {
	var p http.Protocols
	if r.tls != nil {
		p.SetHTTP2(true)
	} else {
		p.SetUnencryptedHTTP2(true)
	}
	d := &net.Dialer{Timeout: r.o.Timeout}
	return &http.Transport{
		Protocols:          &p,
		TLSClientConfig:    r.tls,
		DisableCompression: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if cl, ok := ctx.Value(clientKey{}).(*client); ok {
				return &countingConn{Conn: c, n: &cl.wire}, nil
			}
			return c, nil
		},
	}
}

type clientKey struct{}

// countingConn counts an HTTP/2 connection's bytes.
type countingConn struct {
	net.Conn
	n *wireCount
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.in.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.n.out.Add(int64(n))
	return n, err
}

// loop sends requests until the run is over for this client.
func (c *client) loop() {
	r := c.r
	for !r.stop.Load() {
		now := time.Now()
		measured := !now.Before(r.start)
		var due time.Time
		switch {
		case !measured && r.period > 0:
			k := r.warm.Add(1) - 1
			due = r.t0.Add(time.Duration(float64(k) * r.period))
			if !due.Before(r.start) {
				sleepUntil(r.start)
				continue
			}
			sleepUntil(due)
		case !measured:
		case r.period > 0:
			k := r.next.Add(1) - 1
			if r.o.Requests > 0 && k >= r.o.Requests {
				return
			}
			due = r.start.Add(time.Duration(float64(k) * r.period))
			if r.o.Duration > 0 && !due.Before(r.end) {
				return
			}
			sleepUntil(due)
		default:
			if r.o.Duration > 0 && !now.Before(r.end) {
				return
			}
			if r.o.Requests > 0 && r.next.Add(1) > r.o.Requests {
				return
			}
		}
		c.request(measured, due)
	}
}

func sleepUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		time.Sleep(d)
	}
}

// request sends one request, connecting first when needed, and records
// what came of it when measured. due is when an open-model request was due
// (zero in the closed model).
func (c *client) request(measured bool, due time.Time) {
	r := c.r
	if !c.connected() {
		if err := c.connect(measured); err != nil {
			if measured && !r.stop.Load() {
				c.fail(err, true)
			}
			return
		}
	}
	start := time.Now()
	if !due.IsZero() {
		start = due
	}
	var status int
	var err error
	if r.h2 != nil {
		status, err = c.doH2()
	} else {
		status, err = c.doH1()
	}
	if !measured || r.stop.Load() {
		return
	}
	if err != nil {
		c.fail(err, false)
		return
	}
	c.rec.add(time.Since(start))
	c.count(status)
	c.done.Add(1)
}

func (c *client) connected() bool {
	if c.r.h2 != nil {
		return c.cc != nil
	}
	return c.h1 != nil
}

// connect opens the client's connection.
func (c *client) connect(measured bool) error {
	r := c.r
	t := time.Now()
	ctx, cancel := context.WithTimeout(r.ctx, r.o.Timeout)
	defer cancel()
	if r.h2 != nil {
		scheme := "http"
		if r.tls != nil {
			scheme = "https"
		}
		cc, err := r.h2.NewClientConn(context.WithValue(ctx, clientKey{}, c), scheme, r.o.Connect)
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.cc = cc
		c.mu.Unlock()
	} else {
		d := net.Dialer{Timeout: r.o.Timeout}
		conn, err := d.DialContext(ctx, "tcp", r.o.Connect)
		if err != nil {
			return err
		}
		if r.tls != nil {
			tc := tls.Client(conn, r.tls)
			if err := tc.HandshakeContext(ctx); err != nil {
				_ = conn.Close()
				return err
			}
			conn = tc
		}
		c.mu.Lock()
		c.conn = conn
		c.mu.Unlock()
		c.h1 = newH1(conn, r.req, r.head, c.br)
		c.br = c.h1.br
	}
	if r.stop.Load() {
		c.closeConn()
		return context.Canceled
	}
	if measured {
		d := time.Since(t)
		if c.connects == 0 || d < c.connMin {
			c.connMin = d
		}
		c.connMax = max(c.connMax, d)
		c.connSum += d
		c.connects++
	}
	return nil
}

func (c *client) closeConn() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
	if c.cc != nil {
		_ = c.cc.Close()
		c.cc = nil
	}
	c.h1 = nil
}

func (c *client) doH1() (int, error) {
	if err := c.h1.c.SetDeadline(time.Now().Add(c.r.o.Timeout)); err != nil {
		c.closeConn()
		return 0, err
	}
	status, n, keep, err := c.h1.do()
	c.sent += int64(len(c.r.req))
	c.recv += n
	if err != nil || !keep {
		c.closeConn()
	}
	return status, err
}

func (c *client) doH2() (int, error) {
	o := c.r.o
	if c.req == nil {
		// One request per client, used again once the last answer's body
		// is closed, as net/http allows.
		c.req = &http.Request{
			Method: o.Method, URL: o.URL, Proto: "HTTP/2.0", ProtoMajor: 2,
			Header: o.Header, Host: cmpOr(o.Header.Get("Host"), o.URL.Host),
		}
		c.buf = make([]byte, 32<<10)
	}
	if len(o.Body) > 0 {
		c.req.Body = io.NopCloser(bytes.NewReader(o.Body))
		c.req.ContentLength = int64(len(o.Body))
	}
	// The watchdog, not a context per request, enforces the timeout: a
	// context and its timer per request cost more than the request.
	c.inFlight.Store(time.Now().UnixNano())
	resp, err := c.cc.RoundTrip(c.req)
	if err == nil {
		_, err = io.CopyBuffer(io.Discard, onlyReader{resp.Body}, c.buf)
		_ = resp.Body.Close()
	}
	c.inFlight.Store(0)
	if c.timedOut.Swap(false) {
		err = fmt.Errorf("no answer within %s: %w", o.Timeout, os.ErrDeadlineExceeded)
	}
	if err != nil {
		c.closeConn()
		return 0, err
	}
	return resp.StatusCode, nil
}

// watchdog closes the HTTP/2 connections whose request has outlasted the
// timeout, until done closes.
func (r *runner) watchdog(clients []*client, done <-chan struct{}) {
	t := time.NewTicker(min(r.o.Timeout/10, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			for _, c := range clients {
				if s := c.inFlight.Load(); s != 0 && now.UnixNano()-s > int64(r.o.Timeout) {
					c.timedOut.Store(true)
					c.closeConn()
				}
			}
		}
	}
}

// onlyReader hides a body's WriterTo so io.CopyBuffer uses the buffer.
type onlyReader struct{ io.Reader }

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (c *client) count(status int) {
	for i := range c.codes {
		if c.codes[i].Code == status {
			c.codes[i].Count++
			return
		}
	}
	c.codes = append(c.codes, StatusCount{Code: status, Count: 1})
}

func (c *client) fail(err error, dialing bool) {
	i := kindIndex(classify(err, dialing))
	c.errs[i]++
	if c.errMsg[i] == "" {
		c.errMsg[i] = err.Error()
	}
	c.failed.Add(1)
}

// progress calls Options.Progress every ProgressEvery until done closes.
func (r *runner) progress(clients []*client, done <-chan struct{}) {
	t := time.NewTicker(r.o.ProgressEvery)
	defer t.Stop()
	var last int64
	lastAt := time.Now()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			var p Progress
			for _, c := range clients {
				p.Done += c.done.Load()
				p.Errors += c.failed.Load()
			}
			p.WarmingUp = now.Before(r.start)
			if !p.WarmingUp {
				p.Elapsed = now.Sub(r.start)
			}
			if dt := now.Sub(lastAt).Seconds(); dt > 0 {
				p.PerSecond = float64(p.Done-last) / dt
			}
			last, lastAt = p.Done, now
			r.o.Progress(p)
		}
	}
}

// report adds up the clients' tallies.
func (r *runner) report(clients []*client, finished time.Time) *Report {
	o := r.o
	rep := &Report{
		URL: o.URL.Redacted(), Method: o.Method, Protocol: o.Protocol, Clients: o.Clients,
		Requests: o.Requests, Duration: o.Duration, Rate: o.Rate, WarmUp: o.WarmUp,
		Interrupted: r.stop.Load(),
	}
	if finished.After(r.start) {
		rep.Elapsed = finished.Sub(r.start)
	}
	var errs [7]int64
	var msgs [7]string
	recs := make([]*recorder, 0, len(clients))
	codes := map[int]int64{}
	var connSum time.Duration
	for _, c := range clients {
		recs = append(recs, &c.rec)
		for _, s := range c.codes {
			codes[s.Code] += s.Count
			rep.Completed += s.Count
		}
		for i := range errs {
			errs[i] += c.errs[i]
			rep.Failed += c.errs[i]
			if msgs[i] == "" {
				msgs[i] = c.errMsg[i]
			}
		}
		rep.BytesSent += c.sent + c.wire.out.Load()
		rep.BytesReceived += c.recv + c.wire.in.Load()
		if c.connects > 0 {
			if rep.Connect.Count == 0 || c.connMin < rep.Connect.Min {
				rep.Connect.Min = c.connMin
			}
			rep.Connect.Max = max(rep.Connect.Max, c.connMax)
			rep.Connect.Count += c.connects
			connSum += c.connSum
		}
	}
	if rep.Connect.Count > 0 {
		rep.Connect.Mean = connSum / time.Duration(rep.Connect.Count)
	}
	for code, n := range codes {
		rep.Status = append(rep.Status, StatusCount{Code: code, Count: n})
	}
	slices.SortFunc(rep.Status, func(a, b StatusCount) int { return a.Code - b.Code })
	if rep.Status == nil {
		rep.Status = []StatusCount{}
	}
	for i, n := range errs {
		if n > 0 {
			rep.Errors = append(rep.Errors, ErrorCount{Kind: ErrorKinds[i], Count: n, Example: msgs[i]})
		}
	}
	rep.Latency = summarize(recs)
	if s := rep.Elapsed.Seconds(); s > 0 {
		rep.PerSecond = float64(rep.Completed) / s
	}
	return rep
}
