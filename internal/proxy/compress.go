package proxy

import (
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compression of responses (Rules.Compress): the encoding is negotiated
// with the request's Accept-Encoding (the client's q-values first, the
// route's order on ties) and only applied to a response that is worth it:
// a textual type, no Content-Encoding of its own, no Cache-Control
// no-transform, not a partial or empty answer, and at least
// minCompressSize bytes when its length is known. Encoders are pooled.

const (
	minCompressSize = 1024
	gzipLevel       = 5 // Caddy's default: most of level 9's ratio at a third of its CPU
	zstdWindow      = 1 << 20
)

// negotiate picks the encoding of offered (in the server's order of
// preference) that the Accept-Encoding values rate highest; "" when the
// client accepts none of them. Elements that do not parse are skipped;
// a q-value that does not parse counts as 0.
func negotiate(accept []string, offered []string) string {
	best, bestQ := "", 0
	for _, enc := range offered {
		q := acceptQ(accept, enc)
		if q > bestQ {
			best, bestQ = enc, q
		}
	}
	return best
}

// acceptQ is the q-value (in thousandths) accept gives coding: its own
// element, else "*", else 0.
func acceptQ(accept []string, coding string) int {
	own, star := -1, -1
	for _, v := range accept {
		forEachToken(v, func(elem string) {
			name, params, _ := strings.Cut(elem, ";")
			name = trimOWS(name)
			q := parseQ(params)
			switch {
			case asciiEqualFold(name, coding):
				own = max(own, q)
			case name == "*":
				star = max(star, q)
			}
		})
	}
	switch {
	case own >= 0:
		return own
	case star >= 0:
		return star
	}
	return 0
}

// parseQ reads the q parameter of an Accept-Encoding element ("q=0.5";
// other parameters ignored) in thousandths; 1000 without one, 0 when it
// does not parse (RFC 9110 12.4.2: at most three decimals, at most 1).
func parseQ(params string) int {
	q := 1000
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, ok := strings.Cut(trimOWS(p), "=")
		if !ok || !asciiEqualFold(trimOWS(k), "q") {
			continue
		}
		q = qValue(trimOWS(v))
	}
	return q
}

func qValue(v string) int {
	if v == "" || (v[0] != '0' && v[0] != '1') {
		return 0
	}
	n := int(v[0]-'0') * 1000
	if len(v) == 1 {
		return n
	}
	if v[1] != '.' || len(v) > 5 {
		return 0
	}
	scale := 100
	for i := 2; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0
		}
		n += int(c-'0') * scale
		scale /= 10
	}
	if n > 1000 {
		return 0
	}
	return n
}

// compressible reports whether a Content-Type is worth compressing: text,
// JSON, JavaScript, XML, SVG, WebAssembly and uncompressed fonts; images,
// audio, video, archives and other binary data are compressed already or
// do not shrink.
func compressible(ct string) bool {
	if ct == "" {
		return false
	}
	t, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(t, "text/"):
		return true
	case strings.Contains(t, "json"), strings.Contains(t, "javascript"), strings.Contains(t, "ecmascript"),
		strings.HasSuffix(t, "xml"):
		return true
	}
	switch t {
	case "image/svg+xml", "application/wasm", "font/ttf", "font/otf", "application/vnd.ms-fontobject",
		"application/x-font-ttf", "image/x-icon", "image/vnd.microsoft.icon", "image/bmp":
		return true
	}
	return false
}

// encoder is a pooled gzip or zstd writer.
type encoder interface {
	io.WriteCloser
	Flush() error
	Reset(io.Writer)
}

var (
	gzipPool = sync.Pool{New: func() any {
		w, err := gzip.NewWriterLevel(io.Discard, gzipLevel)
		if err != nil {
			panic(err) // a constant, valid level
		}
		return w
	}}
	zstdPool = sync.Pool{New: func() any {
		w, err := zstd.NewWriter(io.Discard, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(zstdWindow),
			zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithLowerEncoderMem(true))
		if err != nil {
			panic(err) // constant, valid options
		}
		return &zstdEncoder{w}
	}}
)

// zstdEncoder gives zstd.Encoder the encoder shape (its Reset has no
// result to ignore elsewhere).
type zstdEncoder struct{ *zstd.Encoder }

func (z *zstdEncoder) Reset(w io.Writer) { z.Encoder.Reset(w) }

func getEncoder(enc string, w io.Writer) encoder {
	var e encoder
	if enc == EncodingZstd {
		e = zstdPool.Get().(*zstdEncoder)
	} else {
		e = gzipPool.Get().(*gzip.Writer)
	}
	e.Reset(w)
	return e
}

func putEncoder(enc string, e encoder) {
	e.Reset(io.Discard)
	if enc == EncodingZstd {
		zstdPool.Put(e)
	} else {
		gzipPool.Put(e)
	}
}

// compressWriter compresses a response with enc once its header shows it
// is worth it; with enc empty (the client accepts none of the route's
// encodings) it only adds Vary, so caches keep the variants apart.
type compressWriter struct {
	http.ResponseWriter
	enc     string
	decided bool
	zw      encoder
}

func newCompressWriter(w http.ResponseWriter, enc string) *compressWriter {
	return &compressWriter{ResponseWriter: w, enc: enc}
}

func (c *compressWriter) WriteHeader(status int) {
	if c.decided {
		c.ResponseWriter.WriteHeader(status)
		return
	}
	c.decided = true
	h := c.Header()
	ct := ""
	if v := h["Content-Type"]; len(v) > 0 {
		ct = v[0]
	}
	if status < 200 || status == http.StatusNoContent || status == http.StatusPartialContent ||
		status == http.StatusNotModified || len(h["Content-Encoding"]) > 0 || !compressible(ct) {
		c.ResponseWriter.WriteHeader(status)
		return
	}
	h.Add("Vary", "Accept-Encoding")
	if c.enc == "" || listed(h["Cache-Control"], "no-transform") || tooSmall(h["Content-Length"]) {
		c.ResponseWriter.WriteHeader(status)
		return
	}
	h["Content-Encoding"] = []string{c.enc}
	delete(h, "Content-Length")
	if et := h["Etag"]; len(et) > 0 && !strings.HasPrefix(et[0], "W/") {
		// The compressed bytes are not the ones the strong tag names.
		h["Etag"] = []string{"W/" + et[0]}
	}
	c.zw = getEncoder(c.enc, c.ResponseWriter)
	c.ResponseWriter.WriteHeader(status)
}

func tooSmall(cl []string) bool {
	if len(cl) == 0 {
		return false
	}
	n, ok := parseDecimal([]byte(cl[0]))
	return ok && n < minCompressSize
}

func (c *compressWriter) Write(b []byte) (int, error) {
	if !c.decided {
		c.WriteHeader(http.StatusOK)
	}
	if c.zw == nil {
		return c.ResponseWriter.Write(b)
	}
	return c.zw.Write(b)
}

// Flush pushes what the encoder holds to the client: streamed responses
// (server-sent events) stay live.
func (c *compressWriter) Flush() {
	if c.zw != nil {
		_ = c.zw.Flush()
	}
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Close ends the compressed stream and returns the encoder to its pool.
func (c *compressWriter) Close() error {
	if c.zw == nil {
		return nil
	}
	err := c.zw.Close()
	putEncoder(c.enc, c.zw)
	c.zw = nil
	return err
}

// Unwrap lets http.ResponseController reach the server's writer.
func (c *compressWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
