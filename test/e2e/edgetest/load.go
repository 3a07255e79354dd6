package edgetest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/websocket"
)

// Load is a bounded request loop through the proxy.
type Load struct {
	ok, failed atomic.Int64
	done       chan struct{}
	wg         sync.WaitGroup
	mu         sync.Mutex
	errs       []string
}

// StartLoad has workers GET http://addr/ with Host until Stop, maxRequests
// or maxDuration. Each worker keeps its connections alive, as browsers do,
// and waits pause between requests.
func StartLoad(addr, host string, workers int, maxRequests int64, maxDuration, pause time.Duration) *Load {
	l := &Load{done: make(chan struct{})}
	tr := &http.Transport{MaxIdleConnsPerHost: workers, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	deadline := time.Now().Add(maxDuration)
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for time.Now().Before(deadline) && l.ok.Load()+l.failed.Load() < maxRequests {
				select {
				case <-l.done:
					return
				default:
				}
				if err := get(hc, addr, host); err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.errs) < 10 {
						l.errs = append(l.errs, time.Now().Format("15:04:05.000 ")+err.Error())
					}
					l.mu.Unlock()
				} else {
					l.ok.Add(1)
				}
				if pause > 0 {
					time.Sleep(pause)
				}
			}
		}()
	}
	return l
}

func get(hc *http.Client, addr, host string) error {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return err
	}
	req.Host = host
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(b), "ok ") {
		return fmt.Errorf("%s: %q", resp.Status, b)
	}
	return nil
}

// GetOnce requests http://addr/ with host once on a new connection.
func GetOnce(addr, host string) (string, error) {
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return "", err
	}
	req.Host = host
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", host, resp.Status)
	}
	return string(b), err
}

// Counts are the requests that succeeded and failed so far.
func (l *Load) Counts() (ok, failed int64) { return l.ok.Load(), l.failed.Load() }

// Errors are the first failures.
func (l *Load) Errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.errs...)
}

// Stop ends the loop and returns the counts.
func (l *Load) Stop() (ok, failed int64) {
	close(l.done)
	l.wg.Wait()
	return l.Counts()
}

// WaitProgress waits until n more requests succeeded (or a minute).
func (l *Load) WaitProgress(n int64) bool {
	start, _ := l.Counts()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok, _ := l.Counts(); ok >= start+n {
			return true
		}
	}
	return false
}

// WS is a WebSocket through the proxy.
type WS struct{ c *websocket.Conn }

// DialWS opens ws://host/ws through the proxy at addr.
func DialWS(addr, host string) (*WS, error) {
	cfg, err := websocket.NewConfig("ws://"+host+"/ws", "http://"+host)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c, err := websocket.NewClient(cfg, conn)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("websocket handshake through the proxy: %w", err)
	}
	return &WS{c: c}, nil
}

// Echo sends msg and returns the app's answer.
func (w *WS) Echo(msg string) (string, error) {
	_ = w.c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := websocket.Message.Send(w.c, msg); err != nil {
		return "", err
	}
	var got string
	if err := websocket.Message.Receive(w.c, &got); err != nil {
		return "", err
	}
	return got, nil
}

// Close closes the WebSocket.
func (w *WS) Close() error { return w.c.Close() }
