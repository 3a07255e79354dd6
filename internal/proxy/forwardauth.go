package proxy

import (
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// maxAuthBody bounds the body of an authenticator's refusal that is passed
// to the client (a login page, a JSON error): more is cut off.
const maxAuthBody = 64 << 10

// forwardAuth is a route's compiled ForwardAuth, with its own client so
// that a slow authenticator cannot hold the proxy's upstream pools.
type forwardAuth struct {
	url     string
	copy    []string // canonical header names
	timeout time.Duration
	client  *http.Client
}

func newForwardAuth(fa *ForwardAuth) *forwardAuth {
	f := &forwardAuth{url: fa.URL, timeout: cmp.Or(fa.Timeout, defaultForwardAuthWait)}
	for _, h := range fa.CopyHeaders {
		f.copy = append(f.copy, http.CanonicalHeaderKey(h))
	}
	f.client = &http.Client{
		Transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: f.timeout}).DialContext,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: f.timeout,
			TLSHandshakeTimeout:   f.timeout,
		},
		// A redirect to a login page is the authenticator's answer for the
		// client, not something to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       f.timeout,
	}
	return f
}

// check asks the authenticator about r. When it lets r through, the copy
// headers are set on r from its answer (and removed when it sends none, so
// a client cannot forge them) and done is false. Otherwise its answer, or
// 502 when it failed, has been written to w and done is true.
func (f *forwardAuth) check(w http.ResponseWriter, r *http.Request, client netip.Addr, log *slog.Logger) (status int, done bool) {
	ctx, cancel := context.WithTimeout(r.Context(), f.timeout)
	defer cancel()
	// The URL is the route's own setting (the stack's author's), not the
	// client's: no request data picks where the proxy connects.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil) //nolint:gosec // G704, see above
	if err != nil {
		return f.fail(w, r, log, err), true
	}
	for k, vv := range r.Header {
		if hopHeader(k) || k == "Content-Length" || k == "Expect" {
			continue
		}
		req.Header[k] = vv
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	req.Header.Set("X-Forwarded-Method", r.Method)
	req.Header.Set("X-Forwarded-Proto", proto)
	req.Header.Set("X-Forwarded-Host", r.Host)
	req.Header.Set("X-Forwarded-Uri", uri)
	if client.IsValid() {
		req.Header.Set("X-Forwarded-For", client.String())
	}
	resp, err := f.client.Do(req) //nolint:gosec // G704: the route's URL, as above
	if err != nil {
		return f.fail(w, r, log, err), true
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAuthBody))
		for _, k := range f.copy {
			if vv := resp.Header[k]; len(vv) > 0 {
				r.Header[k] = vv
			} else {
				delete(r.Header, k)
			}
		}
		return 0, false
	}
	h := w.Header()
	for k, vv := range resp.Header {
		if hopHeader(k) || k == "Content-Length" {
			continue
		}
		h[k] = vv
	}
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, maxAuthBody))
	return resp.StatusCode, true
}

// fail refuses the request: an authenticator that cannot answer lets
// nobody in.
func (f *forwardAuth) fail(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) int {
	if log != nil {
		log.LogAttrs(r.Context(), slog.LevelWarn, "forward auth failed", slog.String("url", f.url), slog.String("err", err.Error()))
	}
	status := http.StatusBadGateway
	if errors.Is(err, context.DeadlineExceeded) {
		status = http.StatusGatewayTimeout
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, "quai: the authenticator of this route did not answer\n")
	return status
}
