package loadtest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Protocol is the HTTP version a run speaks.
type Protocol string

// Protocols.
const (
	HTTP1 Protocol = "HTTP/1.1"
	// HTTP2 is HTTP/2 over TLS (negotiated with ALPN) for https URLs and
	// over cleartext with prior knowledge (h2c) for http URLs.
	HTTP2 Protocol = "HTTP/2"
)

// Defaults.
const (
	// DefaultTimeout bounds one request, connecting included.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxSamples is how many latencies a run that is not bounded by
	// a number of requests keeps (8 bytes each, so 32 MiB); past it, they
	// go to a histogram. See Latency.Exact.
	DefaultMaxSamples = 4 << 20
	// MaxClients bounds Options.Clients: each is a connection and a
	// goroutine.
	MaxClients = 100_000
)

// ErrInvalid is wrapped by the errors of options that cannot run.
var ErrInvalid = errors.New("invalid load test")

// Options describe a run. Requests or Duration (or both: whichever comes
// first) bounds it.
type Options struct {
	// URL is what every request asks for: http or https, host, path and
	// query.
	URL *url.URL
	// Method is the request method; default GET.
	Method string
	// Header holds extra request headers; a Host header replaces the
	// URL's host in the request (not where it connects).
	Header http.Header
	// Body is sent with every request, with its Content-Length.
	Body []byte
	// Protocol is HTTP1 (default) or HTTP2.
	Protocol Protocol
	// Clients is how many clients run side by side, each with its own
	// connection; default 1.
	Clients int
	// Requests is how many measured requests the run sends, warm-up left
	// out; 0 leaves Duration to bound the run.
	Requests int64
	// Duration bounds the measured part of the run; 0 leaves Requests to.
	Duration time.Duration
	// Rate, when set, is the open model: requests start at this many a
	// second in all (spread over the clients), whatever the answers take;
	// a request's latency counts from when it was due, so a target that
	// falls behind shows it (no coordinated omission). Unset, each client
	// sends its next request when the last one is answered (closed model).
	Rate float64
	// WarmUp runs the load for this long before measuring; those requests
	// count nowhere.
	WarmUp time.Duration
	// Timeout bounds one request, connecting included; default
	// DefaultTimeout.
	Timeout time.Duration
	// Connect is the host:port to connect to instead of the URL's (the
	// URL's host is still the Host header and the TLS server name).
	Connect string
	// Insecure skips verifying the server's certificate.
	Insecure bool
	// MaxSamples is how many latencies are kept for exact percentiles; 0
	// means all of them when Requests bounds the run, else
	// DefaultMaxSamples.
	MaxSamples int
	// Progress, when set, is called every ProgressEvery (default 1s) from
	// its own goroutine while the run lasts.
	Progress      func(Progress)
	ProgressEvery time.Duration
}

// Progress is a run's state as it goes.
type Progress struct {
	// WarmingUp is true until the measured part starts.
	WarmingUp bool
	// Elapsed is the time since the measured part started.
	Elapsed time.Duration
	// Done counts measured responses, Errors measured failed requests.
	Done, Errors int64
	// PerSecond is the response rate over the last interval.
	PerSecond float64
}

// normalize checks o and fills in its defaults.
func (o *Options) normalize() error {
	if o.URL == nil || o.URL.Host == "" {
		return fmt.Errorf("%w: no URL to load", ErrInvalid)
	}
	if o.URL.Scheme != "http" && o.URL.Scheme != "https" {
		return fmt.Errorf("%w: %s: the URL must be http:// or https://", ErrInvalid, o.URL.Redacted())
	}
	if o.Method == "" {
		o.Method = http.MethodGet
	}
	if strings.ContainsAny(o.Method, " \r\n\t") {
		return fmt.Errorf("%w: method %q is not a token", ErrInvalid, o.Method)
	}
	if o.Header == nil {
		o.Header = http.Header{}
	}
	for k, vs := range o.Header {
		for _, v := range vs {
			if strings.ContainsAny(k, " :\r\n") || strings.ContainsAny(v, "\r\n") {
				return fmt.Errorf("%w: header %q: names have no spaces or colons and values no line breaks", ErrInvalid, k)
			}
		}
	}
	switch o.Protocol {
	case "":
		o.Protocol = HTTP1
	case HTTP1, HTTP2:
	default:
		return fmt.Errorf("%w: protocol %q: use %s or %s", ErrInvalid, o.Protocol, HTTP1, HTTP2)
	}
	if o.Clients == 0 {
		o.Clients = 1
	}
	if o.Clients < 0 || o.Clients > MaxClients {
		return fmt.Errorf("%w: %d clients: use 1 to %d", ErrInvalid, o.Clients, MaxClients)
	}
	if o.Requests < 0 || o.Duration < 0 || o.Rate < 0 || o.WarmUp < 0 || o.Timeout < 0 {
		return fmt.Errorf("%w: requests, duration, rate, warm-up and timeout cannot be negative", ErrInvalid)
	}
	if o.Requests == 0 && o.Duration == 0 {
		return fmt.Errorf("%w: neither a number of requests nor a duration bounds the run", ErrInvalid)
	}
	if o.Requests > 0 && o.Requests < int64(o.Clients) && o.Rate == 0 {
		// Not an error: the extra clients just never send.
		o.Clients = int(o.Requests)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxSamples <= 0 {
		o.MaxSamples = DefaultMaxSamples
		if o.Requests > 0 && o.Requests < 1<<31 {
			o.MaxSamples = int(o.Requests)
		}
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = time.Second
	}
	if o.Connect == "" {
		o.Connect = hostPort(o.URL)
	}
	return nil
}

// hostPort is where u's host listens: its port or the scheme's, and a name
// under .localhost (RFC 6761) as the loopback address, since the system's
// resolver may not know it.
func hostPort(u *url.URL) string {
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	if IsLocalhostName(host) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// IsLocalhostName reports whether host is localhost or a name under
// .localhost, which always means the loopback interface (RFC 6761).
func IsLocalhostName(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}
