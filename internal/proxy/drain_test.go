package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestDrainWaitsForInFlightRequest(t *testing.T) {
	p := startProxy(t, "")
	started, release := make(chan struct{}), make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "slow done")
	}))
	t.Cleanup(slow.Close)
	fresh := backend(t, "fresh")
	mustSet(t, p, "a", Route{Host: "a.localhost", Targets: []string{addr(slow)}})

	type reply struct {
		status int
		body   string
	}
	replies := make(chan reply, 1)
	go func() {
		status, body, _ := get(t, newClient(), p.HTTPAddr(), "a.localhost", "/")
		replies <- reply{status, body}
	}()
	<-started
	mustSet(t, p, "a", Route{Host: "a.localhost", Targets: []string{addr(fresh)}})
	_, body, _ := get(t, newClient(), p.HTTPAddr(), "a.localhost", "/")
	expect(t, "new requests go to the new target", body, "fresh")

	drained := make(chan error, 1)
	go func() { drained <- p.Drain(context.Background(), []string{addr(slow)}) }()
	select {
	case err := <-drained:
		t.Fatalf("Drain returned (%v) while a request was in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-drained; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	r := <-replies
	expect(t, "in-flight request status", r.status, 200)
	expect(t, "in-flight request body", r.body, "slow done")
}

func TestDrainCutsAtDeadline(t *testing.T) {
	p := startProxy(t, "")
	started := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	}))
	t.Cleanup(hang.Close)
	mustSet(t, p, "a", Route{Host: "a.localhost", Targets: []string{addr(hang)}})
	statuses := make(chan int, 1)
	go func() {
		status, _, _ := get(t, newClient(), p.HTTPAddr(), "a.localhost", "/")
		statuses <- status
	}()
	<-started
	mustSet(t, p, "a", Route{Host: "a.localhost"})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := p.Drain(ctx, []string{addr(hang)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain: %v, want the deadline error", err)
	}
	expect(t, "cut request", <-statuses, http.StatusBadGateway)
}

func TestDrainOfIdleTargetReturnsAtOnce(t *testing.T) {
	p := startProxy(t, "")
	b := backend(t, "b")
	mustSet(t, p, "a", Route{Host: "a.localhost", Targets: []string{addr(b)}})
	get(t, newClient(), p.HTTPAddr(), "a.localhost", "/")
	// The client has its response a moment before the proxy counts the
	// request finished, so the deadline is generous: what is tested is that
	// Drain returns without cutting anything, for a target that served and
	// for one that never did.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Drain(ctx, []string{addr(b), "127.0.0.1:1"}); err != nil {
		t.Fatalf("Drain of idle targets: %v", err)
	}
}

// TestZeroFailuresWhileSwapping runs concurrent clients while the target
// set is swapped ten times, each old set drained and stopped as the engine
// does: not one request may fail.
func TestZeroFailuresWhileSwapping(t *testing.T) {
	p := startProxy(t, "")
	const workers, swaps = 8, 10
	var served atomic.Int64
	newSet := func(gen int) []*httptest.Server {
		var set []*httptest.Server
		for i := 0; i < 2; i++ {
			name := fmt.Sprintf("gen%d-%d", gen, i)
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				served.Add(1)
				_, _ = io.WriteString(w, name)
			}))
			set = append(set, s)
		}
		return set
	}
	addrs := func(set []*httptest.Server) []string {
		var out []string
		for _, s := range set {
			out = append(out, addr(s))
		}
		return out
	}
	current := newSet(0)
	mustSet(t, p, "a", Route{Host: "a.localhost", Targets: addrs(current)})

	stop := make(chan struct{})
	var failures, requests atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := newClient()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				method, body := "GET", ""
				if i%4 == 3 {
					method, body = "POST", "payload"
				}
				var rd io.Reader
				if body != "" {
					rd = strings.NewReader(body)
				}
				req, _ := http.NewRequest(method, "http://"+p.HTTPAddr()+"/", rd)
				req.Host = "a.localhost"
				resp, err := c.Do(req)
				requests.Add(1)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("worker %d %s: %v", w, method, err))
				}
			}
		}(w)
	}
	for gen := 1; gen <= swaps; gen++ {
		// Let traffic reach the current set before replacing it.
		for before := served.Load(); served.Load() < before+200; {
			time.Sleep(time.Millisecond)
		}
		next := newSet(gen)
		mustSet(t, p, "a", Route{Host: "a.localhost", Targets: addrs(next)})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := p.Drain(ctx, addrs(current)); err != nil {
			t.Errorf("drain of generation %d: %v", gen-1, err)
		}
		cancel()
		for _, s := range current {
			s.Close()
		}
		current = next
	}
	close(stop)
	wg.Wait()
	for _, s := range current {
		s.Close()
	}
	t.Logf("%d requests across %d swaps", requests.Load(), swaps)
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed; first: %v", n, requests.Load(), firstErr.Load())
	}
	if requests.Load() < swaps*50 {
		t.Fatalf("only %d requests ran", requests.Load())
	}
}
