// Command proxybench serves the two ends of the proxy benchmark run by
// run.sh: a static backend answering 1 KiB, and quai's proxy (or, for
// comparison, net/http/httputil.ReverseProxy) with one route to it.
//
//	proxybench backend -addr 127.0.0.1:18080
//	proxybench proxy -addr 127.0.0.1:18081 -target 127.0.0.1:18080 [-impl quai|httputil] [-log] [-nostats]
//	proxybench proxy -https 127.0.0.1:18443 -cert c.pem -key k.pem -host localhost -target 127.0.0.1:18080  # quai over TLS (tls.sh)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/quai-dev/quai/internal/proxy"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: proxybench backend|proxy [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "backend":
		err = runBackend(os.Args[2:])
	case "proxy":
		err = runProxy(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q: use backend or proxy", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxybench:", err)
		os.Exit(1)
	}
}

func runBackend(args []string) error {
	fs := flag.NewFlagSet("backend", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:18080", "listen address")
	size := fs.Int("size", 1024, "response body size in bytes")
	_ = fs.Parse(args)
	body := make([]byte, *size)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	length := strconv.Itoa(len(body))
	srv := &http.Server{
		Addr:              *addr,
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			h := w.Header()
			h["Content-Type"] = []string{"text/plain"}
			h["Content-Length"] = []string{length}
			_, _ = w.Write(body)
		}),
	}
	return serveUntilSignal(srv.ListenAndServe, srv.Shutdown)
}

func runProxy(args []string) error {
	fs := flag.NewFlagSet("proxy", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:18081", "listen address")
	target := fs.String("target", "127.0.0.1:18080", "backend address")
	host := fs.String("host", "bench.localhost", "routed host")
	impl := fs.String("impl", "quai", "quai or httputil")
	accessLog := fs.Bool("log", false, "write the access log to stderr")
	noStats := fs.Bool("nostats", false, "turn off the per-route request statistics (to measure what they cost)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the proxy to this file")
	memProfile := fs.String("memprofile", "", "write an allocation profile of the proxy to this file when it stops")
	httpsAddr := fs.String("https", "", "HTTPS listen address (quai only; -addr \"\" leaves plain HTTP off)")
	certFile := fs.String("cert", "", "PEM certificate of the HTTPS route")
	keyFile := fs.String("key", "", "PEM key of the HTTPS route")
	_ = fs.Parse(args)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		}()
	}
	if *memProfile != "" {
		runtime.MemProfileRate = 64 << 10
		defer func() {
			if f, err := os.Create(*memProfile); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				_ = f.Close()
			}
		}()
	}
	switch *impl {
	case "httputil":
		u := &url.URL{Scheme: "http", Host: *target}
		rp := httputil.NewSingleHostReverseProxy(u)
		rp.Transport = &http.Transport{MaxIdleConnsPerHost: 1024, MaxIdleConns: 1024}
		// wrk ending its connections mid-request is not worth a line each.
		rp.ErrorLog = log.New(io.Discard, "", 0)
		srv := &http.Server{Addr: *addr, Handler: rp, ReadHeaderTimeout: 10 * time.Second}
		return serveUntilSignal(srv.ListenAndServe, srv.Shutdown)
	case "quai":
	default:
		return fmt.Errorf("unknown -impl %q", *impl)
	}
	cfg := proxy.Config{HTTPAddr: *addr, NoStats: *noStats}
	route := proxy.Route{Host: *host, Targets: []string{*target}}
	if *httpsAddr != "" {
		dir, err := os.MkdirTemp("", "proxybench-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(dir) }()
		cfg.HTTPSAddr, cfg.DataDir = *httpsAddr, dir
		route.TLS, route.CertFile, route.KeyFile = proxy.TLSCustom, *certFile, *keyFile
	}
	if *accessLog {
		cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	p, err := proxy.New(cfg)
	if err != nil {
		return err
	}
	if err := p.SetRoutes("bench", []proxy.Route{route}); err != nil {
		return err
	}
	if err := p.Start(); err != nil {
		return err
	}
	return serveUntilSignal(func() error { select {} }, p.Shutdown)
}

// serveUntilSignal runs serve until SIGINT or SIGTERM, then shuts down.
func serveUntilSignal(serve func() error, shutdown func(context.Context) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return shutdown(sctx)
}
