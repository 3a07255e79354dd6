package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	"sync"
	"sync/atomic"
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
	if mode == "fail" {
		return errors.New("failing on purpose")
	}
	marks := os.Getenv("MARK_DIR")
	if marks != "" {
		if err := writeMark(marks, os.Getenv("MARK")+".start."+strconv.Itoa(os.Getpid())); err != nil {
			return err
		}
	}
	mux := http.NewServeMux()
	var healthyOnce sync.Once
	var agent atomic.Value
	agent.Store("")
	mux.HandleFunc("/health-agent", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprint(w, agent.Load())
	})
	// /say prints msg on stdout.
	mux.HandleFunc("/say", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.URL.Query().Get("msg"))
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		agent.Store(r.UserAgent())
		if os.Getenv("HEALTH_FAIL") == "1" {
			http.Error(w, "failing on purpose", http.StatusServiceUnavailable)
			return
		}
		if missing := missingMarks(marks, os.Getenv("HEALTH_NEEDS")); missing != "" {
			http.Error(w, "waiting for "+missing, http.StatusServiceUnavailable)
			return
		}
		if marks != "" {
			healthyOnce.Do(func() { _ = writeMark(marks, os.Getenv("MARK")+".healthy."+strconv.Itoa(os.Getpid())) })
		}
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintf(w, "%s %s", mode, version)
	})
	// /secret shows fingerprints of what the replica received as the
	// APP_TOKEN variable and the GEN_FILE file, never the values.
	mux.HandleFunc("/secret", func(w http.ResponseWriter, _ *http.Request) {
		file, _ := os.ReadFile(os.Getenv("GEN_FILE"))
		_, _ = fmt.Fprintf(w, "%s %s", fingerprint([]byte(os.Getenv("APP_TOKEN"))), fingerprint(file))
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
		// A slow shutdown (STOP_DELAY) records that it finished in
		// STOP_MARK, which stays absent when the replica is killed first.
		if d, err := time.ParseDuration(os.Getenv("STOP_DELAY")); err == nil {
			time.Sleep(d)
			_ = os.WriteFile(os.Getenv("STOP_MARK"), []byte("stopped"), 0o644)
		}
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

// writeMark records an event of the app as a file in dir whose content is
// a sequence number taken from a counter shared by every app of the test
// (a lock-free O_EXCL scan), so that tests compare the order of events,
// not their times.
func writeMark(dir, name string) error {
	for seq := 1; ; seq++ {
		f, err := os.OpenFile(filepath.Join(dir, "seq", strconv.Itoa(seq)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		_ = f.Close()
		return os.WriteFile(filepath.Join(dir, name), []byte(strconv.Itoa(seq)), 0o644)
	}
}

// missingMarks checks needs ("a=2,b=1": at least two replicas of a and one
// of b have started) against the start marks in dir; it returns the first
// unmet need.
func missingMarks(dir, needs string) string {
	if needs == "" {
		return ""
	}
	entries, _ := os.ReadDir(dir)
	for _, need := range strings.Split(needs, ",") {
		name, count, _ := strings.Cut(need, "=")
		want, _ := strconv.Atoi(count)
		got := 0
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), name+".start.") {
				got++
			}
		}
		if got < want {
			return need
		}
	}
	return ""
}

// fingerprint is a short SHA-256 of a secret value, for comparing what a
// replica received without showing it.
func fingerprint(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}
