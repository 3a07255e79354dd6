// Command syncthing-entry is the entrypoint of the Syncthing image the
// catalog's end-to-end test builds from Debian's syncthing package (1.19),
// standing in for the official image's (1.27): as root it gives HOME to
// PUID:PGID and runs `syncthing serve --home HOME/config` as that user, as
// the official entrypoint does. Syncthing 1.19 lacks the unauthenticated
// health endpoint 1.27 has (GET /rest/noauth/health → {"status": "OK"}),
// which the entry's health checks use, so the GUI's address (STGUIADDRESS)
// is served here: /rest/noauth/health answers from Syncthing's own
// /rest/system/ping (asked with an API key this process sets), every other
// request goes to Syncthing's GUI on a loopback port unchanged.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

const inner = "127.0.0.1:8385"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "syncthing-entry:", err)
		os.Exit(1)
	}
}

func run() error {
	home := envOr("HOME", "/var/syncthing")
	uid, err := strconv.Atoi(envOr("PUID", "1000"))
	if err != nil {
		return fmt.Errorf("PUID: %w", err)
	}
	gid, err := strconv.Atoi(envOr("PGID", "1000"))
	if err != nil {
		return fmt.Errorf("PGID: %w", err)
	}
	listen := envOr("STGUIADDRESS", "0.0.0.0:8384")
	key := make([]byte, 16)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	apiKey := hex.EncodeToString(key)

	cmd := exec.Command("/usr/bin/syncthing", "serve", "--home", filepath.Join(home, "config"), "--no-browser", "--gui-apikey", apiKey)
	cmd.Env = append(os.Environ(), "STGUIADDRESS="+inner, "HOME="+home)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if os.Getuid() == 0 {
		if err := os.Chown(home, uid, gid); err != nil {
			fmt.Fprintln(os.Stderr, "syncthing-entry: chown", home+":", err)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	target := &url.URL{Scheme: "http", Host: inner}
	gui := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }}
	hc := &http.Client{Timeout: 5 * time.Second}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rest/noauth/health", func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, "http://"+inner+"/rest/system/ping", nil)
		req.Header.Set("X-API-Key", apiKey)
		resp, err := hc.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			http.Error(w, resp.Status, http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status": "OK"}`+"\n")
	})
	mux.Handle("/", gui)
	srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			fmt.Fprintln(os.Stderr, "syncthing-entry: listen:", err)
			_ = cmd.Process.Kill()
		}
	}()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	for {
		select {
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
		case err := <-done:
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = srv.Shutdown(ctx)
			cancel()
			if ee, ok := err.(*exec.ExitError); ok {
				os.Exit(ee.ExitCode())
			}
			return err
		}
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
