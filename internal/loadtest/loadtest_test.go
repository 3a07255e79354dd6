package loadtest

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// statusServer answers request i (in arrival order) with codes[i%len], some
// bodies chunked, and counts the requests that were not what the run
// should have sent.
type statusServer struct {
	n, wrong atomic.Int64
	proto    atomic.Int64 // ProtoMajor of the last request
	codes    []int
}

func (s *statusServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := s.n.Add(1) - 1
	s.proto.Store(int64(r.ProtoMajor))
	if r.Method != http.MethodPost || r.Header.Get("X-Test") != "yes" || r.URL.Path != "/p" || r.URL.RawQuery != "q=1" {
		s.wrong.Add(1)
	}
	if b, err := io.ReadAll(r.Body); err != nil || string(b) != `{"a":1}` {
		s.wrong.Add(1)
	}
	w.WriteHeader(s.codes[int(i)%len(s.codes)])
	_, _ = io.WriteString(w, "hello ")
	if i%3 == 0 {
		// Flushing before the end makes HTTP/1.1 send the body chunked.
		w.(http.Flusher).Flush()
	}
	_, _ = io.WriteString(w, strings.Repeat("x", int(i%7)*100))
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func run(t *testing.T, o Options) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", *rep)
	return rep
}

func TestCountsAndStatusesAreExact(t *testing.T) {
	codes := []int{200, 200, 201, 404, 500}
	for _, tc := range []struct {
		name  string
		proto Protocol
		start func(*httptest.Server)
		https bool
	}{
		{"h1", HTTP1, (*httptest.Server).Start, false},
		{"h1-tls", HTTP1, (*httptest.Server).StartTLS, true},
		{"h2-tls", HTTP2, func(s *httptest.Server) { s.EnableHTTP2 = true; s.StartTLS() }, true},
		{"h2c", HTTP2, func(s *httptest.Server) {
			s.Config.Protocols = new(http.Protocols)
			s.Config.Protocols.SetHTTP1(true)
			s.Config.Protocols.SetUnencryptedHTTP2(true)
			s.Start()
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &statusServer{codes: codes}
			srv := httptest.NewUnstartedServer(h)
			tc.start(srv)
			defer srv.Close()
			rep := run(t, Options{
				URL: mustURL(t, srv.URL+"/p?q=1"), Method: http.MethodPost, Protocol: tc.proto,
				Header: http.Header{"X-Test": {"yes"}}, Body: []byte(`{"a":1}`),
				Clients: 10, Requests: 1000, Insecure: tc.https,
			})
			if got := h.n.Load(); got != 1000 || rep.Completed != 1000 || rep.Failed != 0 {
				t.Fatalf("server saw %d requests, report %d answered %d failed (%v); want 1000, 1000, 0", got, rep.Completed, rep.Failed, rep.Errors)
			}
			if h.wrong.Load() != 0 {
				t.Errorf("%d requests had the wrong method, header, path or body", h.wrong.Load())
			}
			want := []StatusCount{{200, 400}, {201, 200}, {404, 200}, {500, 200}}
			if !slices.Equal(rep.Status, want) {
				t.Errorf("status = %v, want %v", rep.Status, want)
			}
			if wantProto := map[Protocol]int64{HTTP1: 1, HTTP2: 2}[tc.proto]; h.proto.Load() != wantProto {
				t.Errorf("server saw HTTP/%d, want HTTP/%d", h.proto.Load(), wantProto)
			}
			l := rep.Latency
			if !l.Exact || l.Samples != 1000 || l.Min <= 0 || l.Min > l.P50 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.Max || l.Mean < l.Min || l.Mean > l.Max {
				t.Errorf("latency %+v: want 1000 exact samples, min ≤ p50 ≤ p90 ≤ p99 ≤ max", l)
			}
			if rep.Connect.Count != 10 {
				t.Errorf("%d connections for 10 keep-alive clients", rep.Connect.Count)
			}
			// Bodies alone are 1000 × "hello " plus 100 × (i%7) bytes.
			var body int64
			for i := range int64(1000) {
				body += 6 + i%7*100
			}
			if rep.BytesReceived < body || rep.BytesSent < 1000*7 {
				t.Errorf("bytes received %d (bodies alone %d), sent %d", rep.BytesReceived, body, rep.BytesSent)
			}
		})
	}
}

func TestErrorsAreClassified(t *testing.T) {
	// A closed port: listen, note the port, close.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	_ = l.Close()

	// A server that resets every connection once it has read a request.
	reset := listen(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		_, _ = c.Read(buf)
		_ = c.(*net.TCPConn).SetLinger(0)
		_ = c.Close()
	})
	// A server that reads and never answers.
	silent := listen(t, func(c net.Conn) {
		_, _ = io.Copy(io.Discard, c)
	})
	// A TLS server whose certificate does not verify.
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer tlsSrv.Close()
	// A server that answers something that is not HTTP.
	garbage := listen(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		_, _ = c.Read(buf)
		_, _ = io.WriteString(c, "SSH-2.0-OpenSSH_9.2\r\n")
		_ = c.Close()
	})

	for _, tc := range []struct {
		url     string
		proto   Protocol
		kind    ErrorKind
		timeout time.Duration
	}{
		{"http://" + closed + "/", HTTP1, ErrConnectRefused, 0},
		{"http://" + closed + "/", HTTP2, ErrConnectRefused, 0},
		{"http://" + reset + "/", HTTP1, ErrReset, 0},
		{"http://" + reset + "/", HTTP2, ErrReset, 0},
		{"http://" + silent + "/", HTTP1, ErrTimeout, 300 * time.Millisecond},
		{"http://" + silent + "/", HTTP2, ErrTimeout, 300 * time.Millisecond},
		{tlsSrv.URL + "/", HTTP1, ErrTLS, 0},
		{tlsSrv.URL + "/", HTTP2, ErrTLS, 0},
		{"http://" + garbage + "/", HTTP1, ErrProtocol, 0},
	} {
		t.Run(string(tc.proto)+" "+string(tc.kind), func(t *testing.T) {
			rep := run(t, Options{URL: mustURL(t, tc.url), Protocol: tc.proto, Clients: 2, Requests: 6, Timeout: tc.timeout})
			if rep.Completed != 0 || rep.Failed != 6 || rep.ErrorsOf(tc.kind) != 6 {
				t.Errorf("answered %d, failed %d, errors %+v; want all 6 failed as %s", rep.Completed, rep.Failed, rep.Errors, tc.kind)
			}
		})
	}
}

// listen serves every connection with handle on a loopback port until the
// test ends and returns the address.
func listen(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				handle(c)
			}()
		}
	}()
	return l.Addr().String()
}

func TestOpenModelHonoursTheRate(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { n.Add(1) }))
	defer srv.Close()
	// 200 requests a second for a second, after a warm-up that is not
	// counted: the requests due are exactly 200, whatever the clock does,
	// and the clients could send many times more.
	rep := run(t, Options{URL: mustURL(t, srv.URL), Clients: 4, Rate: 200, Duration: time.Second, WarmUp: 200 * time.Millisecond})
	if rep.Completed != 200 || rep.Failed != 0 {
		t.Errorf("answered %d, failed %d; want the 200 due", rep.Completed, rep.Failed)
	}
	if warm := n.Load() - rep.Completed; warm < 1 || warm > 41 {
		t.Errorf("%d warm-up requests at 200/s for 200ms; want about 40, and none counted", warm)
	}
	// A rate bounded by a number of requests stops at it.
	rep = run(t, Options{URL: mustURL(t, srv.URL), Clients: 3, Rate: 500, Requests: 50})
	if rep.Completed != 50 {
		t.Errorf("answered %d of -n 50 at 500/s", rep.Completed)
	}
}

func TestDurationRunKeepsBoundedSamples(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	rep := run(t, Options{URL: mustURL(t, srv.URL), Clients: 4, Requests: 3 * spillChunk * 4, MaxSamples: spillChunk})
	if rep.Latency.Exact || rep.Latency.Samples != rep.Completed || rep.Completed != 3*spillChunk*4 {
		t.Errorf("latency %+v of %d answers: want every sample counted, past the budget in the histogram", rep.Latency, rep.Completed)
	}
}

// TestHistogramPercentiles holds the histogram's percentiles to within
// 0.2 % of the exact ones.
func TestHistogramPercentiles(t *testing.T) {
	var vals []int64
	x := uint64(88172645463325252)
	for range 200_000 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		// Latencies from 1µs to ~1s, log-spread.
		vals = append(vals, int64(1000<<(x%20))+int64(x>>44))
	}
	exact := func(recs ...*recorder) Latency { return summarize(recs) }
	all := &recorder{run: newSamples(len(vals), true)}
	small := &recorder{run: newSamples(spillChunk, false)}
	for _, v := range vals {
		all.add(time.Duration(v))
		small.add(time.Duration(v))
	}
	want, got := exact(all), exact(small)
	if !want.Exact || got.Exact {
		t.Fatalf("exact flags: %v %v", want.Exact, got.Exact)
	}
	if got.Min != want.Min || got.Max != want.Max || got.Mean != want.Mean || got.Samples != want.Samples {
		t.Errorf("min/mean/max/samples %+v, want %+v", got, want)
	}
	for _, p := range [][2]time.Duration{{got.P50, want.P50}, {got.P90, want.P90}, {got.P99, want.P99}} {
		if diff := float64(p[0]-p[1]) / float64(p[1]); diff > 0.002 || diff < -0.002 {
			t.Errorf("percentile %v, exact %v: off by %.3f%%", p[0], p[1], diff*100)
		}
	}
}

func TestCheckLoopback(t *testing.T) {
	ctx := context.Background()
	for _, ok := range []string{"127.0.0.1:80", "localhost:8080", "shop.dev.localhost", "[::1]:443", "127.1.2.3"} {
		if err := CheckLoopback(ctx, ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, ext := range []string{"192.0.2.10:80", "[2001:db8::1]:443", "10.0.0.1"} {
		if err := CheckLoopback(ctx, ext); !errors.Is(err, ErrExternal) {
			t.Errorf("%s: %v; want ErrExternal", ext, err)
		}
	}
}
