package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// reply is what tests look at in a response (its body is already read).
type reply struct {
	StatusCode int
	Header     http.Header
}

func get(t *testing.T, method, url string) (reply, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{StatusCode: resp.StatusCode, Header: resp.Header}, string(b)
}

func TestEmbeddedFiles(t *testing.T) {
	files, source, err := staticFiles("")
	if err != nil || source != "embedded" {
		t.Fatalf("staticFiles: %q, %v", source, err)
	}
	srv := httptest.NewServer(handler(files, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()

	cases := []struct {
		path, contentType, contains string
	}{
		{"/", "text/html", `<script src="app.js"`},
		{"/app.js", "javascript", `fetch("/api"`},
		{"/style.css", "text/css", "--accent"},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := get(t, "GET", srv.URL+tc.path)
			if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), tc.contentType) || !strings.Contains(body, tc.contains) {
				t.Fatalf("status %d, type %q, body lacks %q", resp.StatusCode, resp.Header.Get("Content-Type"), tc.contains)
			}
			for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Cache-Control"} {
				if resp.Header.Get(h) == "" {
					t.Errorf("missing header %s", h)
				}
			}
		})
	}
	if resp, _ := get(t, "GET", srv.URL+"/missing.js"); resp.StatusCode != 404 {
		t.Errorf("missing file: status %d, want 404", resp.StatusCode)
	}
	if resp, _ := get(t, "POST", srv.URL+"/"); resp.StatusCode != 405 || resp.Header.Get("Allow") == "" {
		t.Errorf("POST: status %d, Allow %q; want 405 with Allow", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestStaticDir(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := staticFiles(dir); err == nil || !strings.Contains(err.Error(), "index.html") {
		t.Fatalf("empty STATIC_DIR: err = %v, want one naming index.html", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("edited in place"), 0o600); err != nil {
		t.Fatal(err)
	}
	files, source, err := staticFiles(dir)
	if err != nil || source != dir {
		t.Fatalf("staticFiles: %q, %v", source, err)
	}
	srv := httptest.NewServer(handler(files, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	if resp, body := get(t, "GET", srv.URL+"/"); resp.StatusCode != 200 || body != "edited in place" {
		t.Fatalf("status %d, body %q", resp.StatusCode, body)
	}
}

func TestRunServesOnPortAndStops(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	env := map[string]string{"HOST": "127.0.0.1", "PORT": strconv.Itoa(port)}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), func(k string) string { return env[k] })
	}()
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
	for i := 0; ; i++ {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			break
		}
		if i == 200 {
			t.Fatalf("web never answered on port %d: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after cancellation")
	}
}
