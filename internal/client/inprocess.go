package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/quai-dev/quai/internal/wire"
)

// InProcessHost is the Host of the requests an in-process client sends
// (it never reaches a network).
const InProcessHost = "quai.in-process"

// NewInProcess returns a client that calls the API handler h directly, in
// the same process: no socket, no TLS hop, yet every request goes through
// h, so the API authenticates and authorizes it as any other. The
// dashboard uses it with the daemon's network handler
// ((*api.Server).RemoteHandler) and the logged-in user's token, sent as
// Authorization: Bearer; an empty token sends none.
//
// Streams (operations, logs -f) stream: the handler runs in its own
// goroutine and its flushes reach the reader. Exec, which takes the
// connection over, is not available in process.
func NewInProcess(h http.Handler, token string) *Client {
	return &Client{
		socket: "in-process",
		http:   &http.Client{Transport: &handlerTransport{h: h, token: token}},
		base:   "http://" + InProcessHost + wire.Prefix,
	}
}

// handlerTransport is an http.RoundTripper serving each request with a
// handler.
type handlerTransport struct {
	h     http.Handler
	token string
}

func (t *handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	r := req.Clone(ctx)
	if t.token != "" {
		r.Header.Set("Authorization", "Bearer "+t.token)
	}
	r.RequestURI = r.URL.RequestURI()
	r.RemoteAddr = "in-process"
	if r.Body == nil {
		r.Body = http.NoBody
	}
	pr, pw := io.Pipe()
	w := &pipeWriter{header: http.Header{}, pw: pw, ready: make(chan struct{}), req: req}
	go func() {
		// As net/http's server does, a panicking handler fails its
		// request and not the process; http.ErrAbortHandler is how a
		// handler (httputil.ReverseProxy) stops a response on purpose.
		defer func() {
			if p := recover(); p != nil {
				w.finish()
				err := fmt.Errorf("the API handler for %s %s panicked: %v", r.Method, r.URL.Path, p)
				if p == http.ErrAbortHandler { //nolint:errorlint // the panic value itself
					err = errors.New("the API handler aborted the response")
				}
				_ = pw.CloseWithError(err)
				cancel()
			}
		}()
		t.h.ServeHTTP(w, r)
		w.finish()
		_ = pw.Close()
	}()
	select {
	case <-w.ready:
	case <-req.Context().Done():
		cancel()
		_ = pr.CloseWithError(req.Context().Err())
		return nil, req.Context().Err()
	}
	resp := w.resp
	resp.Body = &cancelBody{ReadCloser: pr, cancel: cancel}
	return resp, nil
}

// pipeWriter is the handler's ResponseWriter: the status and headers are
// handed to RoundTrip at the first write or flush, the body goes through a
// pipe the client reads.
type pipeWriter struct {
	header http.Header
	pw     *io.PipeWriter
	req    *http.Request

	once  sync.Once
	ready chan struct{}
	resp  *http.Response
	code  int
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) WriteHeader(code int) {
	if w.code != 0 {
		return
	}
	w.code = code
	w.send()
}

func (w *pipeWriter) send() {
	w.once.Do(func() {
		if w.code == 0 {
			w.code = http.StatusOK
		}
		w.resp = &http.Response{
			Status: http.StatusText(w.code), StatusCode: w.code,
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: w.header.Clone(), ContentLength: -1, Request: w.req,
		}
		close(w.ready)
	})
}

func (w *pipeWriter) Write(p []byte) (int, error) {
	w.send()
	return w.pw.Write(p)
}

// Flush hands the headers over; the pipe has no buffer to flush.
func (w *pipeWriter) Flush() { w.send() }

// FlushError is what http.ResponseController calls.
func (w *pipeWriter) FlushError() error { w.send(); return nil }

func (w *pipeWriter) finish() { w.send() }

// cancelBody cancels the handler's context when the reader closes the body
// (a log follow the page stopped).
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	b.cancel()
	return b.ReadCloser.Close()
}

// CallJSON makes one call of the API with a JSON body (nil: none) and
// decodes the answer into v: for endpoints this client has no typed call
// for yet.
func (c *Client) CallJSON(ctx context.Context, method, path string, body, v any) error {
	return c.callJSON(ctx, method, path, body, v)
}
