package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// wsBackend echoes WebSocket messages prefixed with its name.
func wsBackend(t *testing.T, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(websocket.Handler(func(ws *websocket.Conn) {
		for {
			var msg string
			if err := websocket.Message.Receive(ws, &msg); err != nil {
				return
			}
			if err := websocket.Message.Send(ws, name+":"+msg); err != nil {
				return
			}
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// wsDial opens a WebSocket to host through the proxy at proxyAddr.
func wsDial(t *testing.T, proxyAddr, host string) *websocket.Conn {
	t.Helper()
	cfg, err := websocket.NewConfig("ws://"+host+"/echo", "http://"+host)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := websocket.NewClient(cfg, conn)
	if err != nil {
		_ = conn.Close()
		t.Fatalf("websocket handshake through the proxy: %v", err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

func wsRoundTrip(t *testing.T, ws *websocket.Conn, msg string) (string, error) {
	t.Helper()
	_ = ws.SetDeadline(time.Now().Add(10 * time.Second))
	if err := websocket.Message.Send(ws, msg); err != nil {
		return "", err
	}
	var got string
	err := websocket.Message.Receive(ws, &got)
	return got, err
}

func TestWebSocketEchoSurvivesSwap(t *testing.T) {
	p := startProxy(t, "")
	oldB, newB := wsBackend(t, "old"), wsBackend(t, "new")
	mustSet(t, p, "chat", Route{Host: "chat.localhost", Targets: []string{addr(oldB)}})
	ws := wsDial(t, p.HTTPAddr(), "chat.localhost")
	for i := 0; i < 3; i++ {
		got, err := wsRoundTrip(t, ws, fmt.Sprint("hello ", i))
		if err != nil {
			t.Fatal(err)
		}
		expect(t, "echo", got, fmt.Sprint("old:hello ", i))
	}
	expect(t, "tunnels counted in flight", p.targets[addr(oldB)].inflight.Load(), 1)

	// The swap routes new connections to the new target; the open one
	// stays on the old target until drained.
	mustSet(t, p, "chat", Route{Host: "chat.localhost", Targets: []string{addr(newB)}})
	got, err := wsRoundTrip(t, ws, "after swap")
	if err != nil {
		t.Fatalf("open WebSocket broke on SetRoutes: %v", err)
	}
	expect(t, "echo after swap", got, "old:after swap")
	ws2 := wsDial(t, p.HTTPAddr(), "chat.localhost")
	got, err = wsRoundTrip(t, ws2, "fresh")
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "new connection", got, "new:fresh")

	// Drain with a deadline: the tunnel never ends by itself, so Drain
	// cuts it and says so.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := p.Drain(ctx, []string{addr(oldB)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain of an open WebSocket: %v, want the deadline error", err)
	}
	if _, err := wsRoundTrip(t, ws, "cut"); err == nil {
		t.Fatal("the WebSocket to the drained target is still open")
	}
	if got, err := wsRoundTrip(t, ws2, "still"); err != nil || got != "new:still" {
		t.Fatalf("WebSocket to the new target: %q, %v", got, err)
	}
}

func TestWebSocketDrainWaitsForClose(t *testing.T) {
	p := startProxy(t, "")
	b := wsBackend(t, "b")
	mustSet(t, p, "chat", Route{Host: "chat.localhost", Targets: []string{addr(b)}})
	ws := wsDial(t, p.HTTPAddr(), "chat.localhost")
	if _, err := wsRoundTrip(t, ws, "x"); err != nil {
		t.Fatal(err)
	}
	mustSet(t, p, "chat", Route{Host: "chat.localhost"})
	drained := make(chan error, 1)
	go func() { drained <- p.Drain(context.Background(), []string{addr(b)}) }()
	select {
	case err := <-drained:
		t.Fatalf("Drain returned (%v) while a WebSocket was open", err)
	case <-time.After(100 * time.Millisecond):
	}
	_ = ws.Close()
	if err := <-drained; err != nil {
		t.Fatalf("Drain after the client closed: %v", err)
	}
}

func TestUpgradeDeclined(t *testing.T) {
	p := startProxy(t, "")
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no upgrades here", http.StatusForbidden)
	}))
	t.Cleanup(b.Close)
	mustSet(t, p, "a", Route{Host: "a.localhost", Targets: []string{addr(b)}})
	req, _ := http.NewRequest("GET", "http://"+p.HTTPAddr()+"/", nil)
	req.Host = "a.localhost"
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	resp, err := newClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	expect(t, "status", resp.StatusCode, 403)
	expect(t, "body", string(body), "no upgrades here\n")
}
