package runtimetest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// AppEnv, set to "1" in a replica's environment, makes a binary that calls
// AppMain from its main (or TestMain) behave as the test app. Runtimes whose
// test app is their test binary re-executed (the process runtime) set it.
const AppEnv = "QUAI_TESTAPP"

// Marks the test app prints, which the suite looks for in logs.
const (
	StartedMark = "quai-test-app started"
	StderrMark  = "quai-test-app says hello on stderr"
	SigtermMark = "quai-test-app got SIGTERM"
)

// Lines of the file "stops" in $DATA_DIR.
const (
	StopSigterm = "sigterm"
	StopExited  = "exited"
)

// AppMain runs the suite's test app and exits. With arguments it is a
// command for Exec and health checks:
//
//	echo TEXT CODE   print TEXT, exit with CODE
//	getenv NAME      print the environment variable NAME
//	probe PATH       GET http://127.0.0.1:$PORT/PATH, exit 0 when it answers 2xx
//
// Without arguments it is an HTTP server on $APP_HOST:$PORT (port 8080 when
// unset) with these endpoints:
//
//	/          "ok pid=<pid>"
//	/pid       the process id and start time ("<pid>-<unix nanos>"), unique per start
//	/healthz   200, or 503 when UNHEALTHY=1
//	/health-agent  the User-Agent of the last request to /healthz
//	/crash     answers, then exits with code 3
//	/log?msg=  prints msg to stdout
//	/write?value=, /read   a file "value" in $DATA_DIR
//	/env?name= the value of an environment variable
//	/stops     the file "stops" in $DATA_DIR (see below), empty when absent
//
// On SIGTERM it prints SigtermMark and exits 0, unless IGNORE_SIGTERM=1.
// When DATA_DIR is set it also appends StopSigterm to $DATA_DIR/stops on
// SIGTERM and StopExited once it shut down cleanly, so that a runtime that
// removes a stopped replica with its logs (Kubernetes) can still show how
// the replica stopped to the next one that mounts the volume.
func AppMain() {
	if len(os.Args) > 1 {
		os.Exit(appCommand(os.Args[1:]))
	}
	os.Exit(appServer())
}

func appCommand(args []string) int {
	switch {
	case args[0] == "echo" && len(args) == 3:
		fmt.Println(args[1])
		code, _ := strconv.Atoi(args[2])
		return code
	case args[0] == "getenv" && len(args) == 2:
		fmt.Println(os.Getenv(args[1]))
		return 0
	case args[0] == "probe" && len(args) == 2:
		port := os.Getenv("PORT")
		if port == "" {
			port = "8080"
		}
		c := http.Client{Timeout: 3 * time.Second}
		u := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", port), Path: args[1]}
		resp, err := c.Get(u.String())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		_ = resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			fmt.Fprintln(os.Stderr, resp.Status)
			return 1
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "quai-test-app: unknown command %q\n", args)
	return 2
}

func appServer() int {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	l, err := net.Listen("tcp", net.JoinHostPort(os.Getenv("APP_HOST"), port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "quai-test-app:", err)
		return 1
	}
	dataDir := filepath.Clean(os.Getenv("DATA_DIR"))
	mux := http.NewServeMux()
	var served atomic.Int64
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		if r.URL.Query().Get("status") == "500" {
			http.Error(w, "failing on request", http.StatusInternalServerError)
			return
		}
		_, _ = fmt.Fprintf(w, "ok pid=%d\n", os.Getpid())
	})
	// A Prometheus endpoint, as an app declaring x-quai.metrics serves.
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintf(w, "# TYPE testapp_requests_total counter\ntestapp_requests_total %d\n# TYPE testapp_up gauge\ntestapp_up 1\n", served.Load())
	})
	// A container's app is always pid 1, so the pid alone does not tell a
	// restarted app from the same one: the start time does.
	started := time.Now().UnixNano()
	mux.HandleFunc("/pid", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintf(w, "%d-%d", os.Getpid(), started)
	})
	var agentMu sync.Mutex
	var agent string
	mux.HandleFunc("/health-agent", func(w http.ResponseWriter, _ *http.Request) {
		agentMu.Lock()
		defer agentMu.Unlock()
		_, _ = fmt.Fprint(w, agent)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		agentMu.Lock()
		agent = r.UserAgent()
		agentMu.Unlock()
		if os.Getenv("UNHEALTHY") == "1" {
			http.Error(w, "unhealthy on purpose", http.StatusServiceUnavailable)
			return
		}
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/crash", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintln(w, "crashing")
		go func() {
			time.Sleep(50 * time.Millisecond)
			fmt.Println("quai-test-app crashing on request")
			os.Exit(3)
		}()
	})
	mux.HandleFunc("/log", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.URL.Query().Get("msg"))
		_, _ = fmt.Fprintln(w, "logged")
	})
	mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		// The suite chooses DATA_DIR; writing there is the point.
		if err := os.WriteFile(filepath.Join(dataDir, "value"), []byte(r.URL.Query().Get("value")), 0o600); err != nil { //nolint:gosec // test app
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = fmt.Fprintln(w, "written")
	})
	mux.HandleFunc("/read", func(w http.ResponseWriter, _ *http.Request) {
		b, err := os.ReadFile(filepath.Join(dataDir, "value")) //nolint:gosec // test app: DATA_DIR is the suite's
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		_, _ = w.Write(b)
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = fmt.Fprint(w, os.Getenv(r.URL.Query().Get("name"))) //nolint:gosec // plain text, read by the suite only
	})
	stops := filepath.Join(dataDir, "stops")
	mux.HandleFunc("/stops", func(w http.ResponseWriter, _ *http.Request) {
		b, err := os.ReadFile(stops) //nolint:gosec // test app: DATA_DIR is the suite's
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(b)
	})
	recordStop := func(event string) {
		if os.Getenv("DATA_DIR") == "" {
			return
		}
		f, err := os.OpenFile(stops, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600) //nolint:gosec // test app: DATA_DIR is the suite's
		if err != nil {
			fmt.Fprintln(os.Stderr, "quai-test-app:", err)
			return
		}
		_, _ = fmt.Fprintln(f, event)
		// Synced: the runtime may tear the volume down right after the exit.
		_ = f.Sync()
		_ = f.Close()
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGTERM)
	go func() {
		for range sigc {
			fmt.Println(SigtermMark)
			recordStop(StopSigterm)
			if os.Getenv("IGNORE_SIGTERM") == "1" {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = srv.Shutdown(ctx)
			cancel()
			recordStop(StopExited)
			os.Exit(0)
		}
	}()
	fmt.Printf("%s pid=%d port=%s\n", StartedMark, os.Getpid(), port)
	fmt.Fprintln(os.Stderr, StderrMark)
	if err := srv.Serve(l); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "quai-test-app:", err)
		return 1
	}
	select {} // Shutdown was called by the SIGTERM handler, which exits
}
