package proxyd

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/proxy"
)

// runProxy runs a proxy process's server in this process on dir (HTTP on
// loopback port 0) and returns a loaded client of it and a stop function.
func runProxy(t *testing.T, dir string) (*Client, func()) {
	t.Helper()
	return runProxyConfig(t, dir, proxy.Config{HTTPAddr: "127.0.0.1:0"})
}

// runProxyConfig is runProxy with the proxy configured by cfg.
func runProxyConfig(t *testing.T, dir string, cfg proxy.Config) (*Client, func()) {
	t.Helper()
	if err := WriteSettings(dir, Settings{Proxy: cfg, DrainTimeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, RunOptions{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	c := Dial(dir)
	var st Status
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st, err = c.Status(context.Background()); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("proxy run: %v", err)
		default:
		}
	}
	if err != nil {
		t.Fatalf("the proxy did not answer: %v", err)
	}
	if err := c.load(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxy run: %v", err)
		}
		c.Close()
	}
	t.Cleanup(stop)
	return c, stop
}

func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "qpd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return filepath.Join(dir, "proxy")
}

func getVia(t *testing.T, addr, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func backend(t *testing.T, body string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, body) }))
	t.Cleanup(s.Close)
	return s
}

// TestPushesAreWholeIdempotentAndPersisted: a pushed table serves at once
// and survives the process; a repeated generation changes nothing, an
// older one is refused, and a conflicting table is refused whole with the
// proxy's own error, as the engine expects of an in-process proxy.
func TestPushesAreWholeIdempotentAndPersisted(t *testing.T) {
	dir := shortDir(t)
	c, stop := runProxy(t, dir)
	a := backend(t, "a")
	addr := c.HTTPAddr()
	if err := c.SetRoutes("a", []proxy.Route{{Host: "a.localhost", Targets: []string{a.Listener.Addr().String()}}}); err != nil {
		t.Fatal(err)
	}
	if code, body := getVia(t, addr, "a.localhost"); code != 200 || body != "a" {
		t.Fatalf("GET a.localhost = %d %q; want 200 a", code, body)
	}
	gen := c.gen
	// The same generation again (a retried push) is acknowledged as is,
	// even with another table.
	if err := c.call(context.Background(), http.MethodPut, "/v1/routes", Table{Generation: gen}, nil); err != nil {
		t.Fatalf("repeated push: %v", err)
	}
	if code, _ := getVia(t, addr, "a.localhost"); code != 200 {
		t.Fatalf("a repeated generation changed the table: GET = %d", code)
	}
	err := c.call(context.Background(), http.MethodPut, "/v1/routes", Table{Generation: gen - 1}, nil)
	if !errors.Is(err, ErrStale) {
		t.Fatalf("older push: err = %v; want ErrStale", err)
	}
	err = c.SetRoutes("b", []proxy.Route{{Host: "a.localhost", Targets: []string{"127.0.0.1:1"}}, {Host: "b.localhost", Targets: []string{"127.0.0.1:1"}}})
	if !errors.Is(err, proxy.ErrConflict) || !strings.Contains(err.Error(), `already routed by instance "a"`) {
		t.Fatalf("conflicting push: err = %v; want the proxy's ErrConflict", err)
	}
	if code, _ := getVia(t, addr, "b.localhost"); code != http.StatusNotFound {
		t.Fatalf("a refused table was half applied: GET b.localhost = %d", code)
	}
	if c.gen != gen {
		t.Fatalf("generation moved to %d on a refused push; want %d", c.gen, gen)
	}

	// A new process on the directory serves the last table before anyone
	// pushes one.
	stop()
	c2, _ := runProxy(t, dir)
	if c2.gen != gen {
		t.Fatalf("restarted proxy at generation %d; want %d", c2.gen, gen)
	}
	if code, body := getVia(t, c2.HTTPAddr(), "a.localhost"); code != 200 || body != "a" {
		t.Fatalf("restarted proxy: GET a.localhost = %d %q; want 200 a from the persisted table", code, body)
	}
	// Removing the instance is a push too.
	c2.RemoveInstance("a")
	if code, _ := getVia(t, c2.HTTPAddr(), "a.localhost"); code != http.StatusNotFound {
		t.Fatalf("after RemoveInstance GET = %d; want 404", code)
	}
}

// TestDrainAnswersWhenTargetsAreIdle: a drain over the socket waits for
// the request in flight to the target that left, and reports a deadline.
func TestDrainAnswersWhenTargetsAreIdle(t *testing.T) {
	dir := shortDir(t)
	c, _ := runProxy(t, dir)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		<-release
		_, _ = io.WriteString(w, "slow")
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	target := slow.Listener.Addr().String()
	if err := c.SetRoutes("s", []proxy.Route{{Host: "s.localhost", Targets: []string{target}}}); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "http://"+c.HTTPAddr()+"/", nil)
		req.Host = "s.localhost"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		got <- string(b)
	}()
	// The request is in flight once the proxy counts it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if st := c.Stats(); len(st) == 1 && st[0].InFlight == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the request never showed in flight")
		}
		c.statsAt = time.Time{}
	}
	c.RemoveInstance("s")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err := c.Drain(ctx, []string{target})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("drain of a busy target: err = %v; want a deadline", err)
	}
	close(release)
	// The drain that timed out cut the request (a 502 or a broken
	// connection): it ends either way.
	<-got
	if err := c.Drain(context.Background(), []string{target}); err != nil {
		t.Fatalf("drain of an idle target: %v", err)
	}
}
