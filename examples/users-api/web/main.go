// Command web serves the users-api example's static frontend. The files are
// embedded in the binary so it runs anywhere, from a FROM scratch image to
// quai's process runtime; set STATIC_DIR to serve a directory instead and
// edit the page without rebuilding. It listens on HOST (default: every
// interface) and PORT (default 8080), logs JSON to stdout and drains
// in-flight requests on SIGTERM.
//
// It is a standalone program: it imports nothing from quai.
package main

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

//go:embed static
var embedded embed.FS

const shutdownTimeout = 10 * time.Second

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, log, os.Getenv); err != nil {
		stop()
		log.Error("web stopped", "error", err.Error())
		os.Exit(1)
	}
}

// run serves until ctx is cancelled, then drains in-flight requests.
func run(ctx context.Context, log *slog.Logger, getenv func(string) string) error {
	port := getenv("PORT")
	if port == "" {
		port = "8080"
	}
	files, source, err := staticFiles(getenv("STATIC_DIR"))
	if err != nil {
		return err
	}
	srv := &http.Server{
		Addr:              net.JoinHostPort(getenv("HOST"), port),
		Handler:           handler(files, log),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (HOST, PORT): %w", srv.Addr, err)
	}
	log.Info("web listening", "addr", ln.Addr().String(), "files", source)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// staticFiles returns the tree to serve and a description of where it is.
func staticFiles(dir string) (fs.FS, string, error) {
	if dir == "" {
		sub, err := fs.Sub(embedded, "static")
		if err != nil {
			return nil, "", fmt.Errorf("embedded files: %w", err)
		}
		return sub, "embedded", nil
	}
	if _, err := os.Stat(dir + "/index.html"); err != nil {
		return nil, "", fmt.Errorf("STATIC_DIR %s has no index.html: %w", dir, err)
	}
	return os.DirFS(dir), dir, nil
}

// handler serves files with security headers; the page must be revalidated
// so a deploy shows at once, which ETag-less embedded files allow only with
// no-cache.
func handler(files fs.FS, log *slog.Logger) http.Handler {
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		fileServer.ServeHTTP(rec, r)
		if rec.status >= 400 {
			log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status)
		}
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}
