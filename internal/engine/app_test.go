package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/runtime/process"
)

// appEnv makes the test binary the app the engine deploys: "web" (routed,
// calls the backend through BACKEND_URL) or "backend" (counts its starts in
// a file of its volume, DATA_DIR).
const appEnv = "QUAI_ENGINE_TEST_APP"

// TestMain lets the test binary be what the process runtime starts: the
// replica supervisor and the test app.
func TestMain(m *testing.M) {
	if process.IsShim() {
		os.Exit(process.ShimMain())
	}
	if mode := os.Getenv(appEnv); mode != "" {
		if err := appMain(mode); err != nil {
			fmt.Fprintln(os.Stderr, "test app:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func appMain(mode string) error {
	version := os.Getenv("VERSION")
	starts := 0
	if dir := os.Getenv("DATA_DIR"); dir != "" {
		p := filepath.Join(dir, "starts")
		b, _ := os.ReadFile(p)
		starts, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		starts++
		if err := os.WriteFile(p, []byte(strconv.Itoa(starts)), 0o644); err != nil {
			return err
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if os.Getenv("HEALTH_FAIL") == "1" {
			http.Error(w, "failing on purpose", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintf(w, "%s %s", mode, version)
	})
	mux.HandleFunc("/pid", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprint(w, os.Getpid())
	})
	mux.HandleFunc("/starts", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprint(w, starts)
	})
	mux.HandleFunc("/backend", func(w http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, os.Getenv("BACKEND_URL")+"/starts", nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		_, _ = fmt.Fprintf(w, "backend starts=%s", b)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		return err
	}
	fmt.Printf("%s %s listening on %s\n", mode, version, ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// Shutdown lets in-flight requests finish; Serve returns as soon as it
	// begins, so main waits for it to end.
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-done
	fmt.Printf("%s %s stopped\n", mode, version)
	return nil
}
