package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
)

// assets serves the embedded static files, each gzip-compressed once, at
// its first request from a browser that accepts it (every current one):
// a daemon nobody opens the dashboard of keeps neither the compressed
// copies nor the compressor's buffers.
type assets struct {
	files map[string]*asset
}

type asset struct {
	raw    []byte
	ctype  string
	etag   string
	gzOnce sync.Once
	gz     []byte
}

// gzipped returns the asset compressed at the best level.
func (f *asset) gzipped() []byte {
	f.gzOnce.Do(func() {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(f.raw)
		_ = zw.Close()
		f.gz = buf.Bytes()
	})
	return f.gz
}

func newAssets(fsys fs.FS) (*assets, error) {
	a := &assets{files: map[string]*asset{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" || strings.HasSuffix(p, "LICENSE") {
			ctype = "text/plain; charset=utf-8"
		}
		a.files[p] = &asset{raw: raw, ctype: ctype, etag: `"` + randomID(9) + `"`}
		return nil
	})
	return a, err
}

func (a *assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := a.files[strings.TrimPrefix(r.URL.Path, "/ui/static/")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("Vary", "Accept-Encoding")
	h.Set("ETag", f.etag)
	// Versioned names (htmx-2.0.11.min.js) never change; app.js and
	// app.css change with the binary and are revalidated.
	if strings.Contains(r.URL.Path, "-") {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	if r.Header.Get("If-None-Match") == f.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := f.raw
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body = f.gzipped()
	}
	_, _ = w.Write(body)
}

func acceptsGzip(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept-Encoding"), "gzip")
}

var gzPool = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return zw
}}

// writeBody writes a page, gzip-compressed when the browser accepts it
// and the page is worth it.
func writeBody(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	w.Header().Set("Vary", "Accept-Encoding")
	if r == nil || len(body) < 1400 || !acceptsGzip(r) {
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	w.WriteHeader(status)
	zw := gzPool.Get().(*gzip.Writer)
	zw.Reset(w)
	_, _ = zw.Write(body)
	_ = zw.Close()
	gzPool.Put(zw)
}
