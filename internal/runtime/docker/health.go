package docker

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/runtime"
)

// defaultHealthStart is how long a replica with an HTTP health path may
// refuse connections before it counts as unhealthy.
const defaultHealthStart = 60 * time.Second

// healthRetries consecutive failed probes make a replica unhealthy.
const healthRetries = 3

// watcher probes one replica's HTTP health path until stopped. The result
// describes the container run that started at started; a restart resets it.
type watcher struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	health  runtime.Health
	msg     string
	started string
}

func (w *watcher) stop() {
	w.cancel()
	<-w.done
}

func (w *watcher) status() (runtime.Health, string, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.health, w.msg, w.started
}

// watch starts the health watcher of a container unless one runs.
func (r *Runtime) watch(id, addr, path string, startPeriod time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.closed:
		return
	default:
	}
	if _, ok := r.watchers[id]; ok {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{cancel: cancel, done: make(chan struct{}), health: runtime.HealthStarting, msg: "no health check has passed yet"}
	r.watchers[id] = w
	go r.runWatcher(ctx, w, id, addr, path, startPeriod)
}

// unwatch stops a container's watcher, if any.
func (r *Runtime) unwatch(id string) {
	r.mu.Lock()
	w := r.watchers[id]
	delete(r.watchers, id)
	r.mu.Unlock()
	if w != nil {
		w.stop()
	}
}

func (r *Runtime) watcherOf(id string) *watcher {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.watchers[id]
}

func (r *Runtime) runWatcher(ctx context.Context, w *watcher, id, addr, path string, startPeriod time.Duration) {
	defer close(w.done)
	hc := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer hc.CloseIdleConnections()
	url := "http://" + addr + path
	var (
		run       string // StartedAt of the container run being checked
		runStart  time.Time
		fails     int
		passedRun bool
	)
	for {
		ins, err := r.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			w.set(runtime.HealthUnhealthy, "inspect: "+trimErr(err.Error()), run)
		case ins.Container.State == nil || !ins.Container.State.Running:
			w.set(runtime.HealthStarting, "the container is not running", run)
		default:
			if st := ins.Container.State.StartedAt; st != run {
				run, fails, passedRun = st, 0, false
				runStart = parseTime(st)
				w.set(runtime.HealthStarting, "no health check has passed yet", run)
			}
			ok, msg, answered := probe(ctx, hc, url)
			switch {
			case ok:
				fails, passedRun = 0, true
				w.set(runtime.HealthHealthy, "", run)
			case ctx.Err() != nil:
				return
			default:
				fails++
				// A replica that does not listen yet is starting, until its
				// start period is over; one that answers with an error, or
				// stops answering after it passed, is failing now.
				failing := answered || passedRun || time.Since(runStart) > startPeriod
				h, _, _ := w.status()
				switch {
				case failing && fails >= healthRetries:
					h = runtime.HealthUnhealthy
				case h == runtime.HealthUnhealthy && failing:
				case passedRun:
					// One failed probe does not take a healthy replica out.
					h = runtime.HealthHealthy
				default:
					h = runtime.HealthStarting
				}
				w.set(h, msg, run)
			}
		}
		// Probe often until this run passed once, so a deploy waits for the
		// replica, not for the interval; then at the configured pace.
		wait := r.opts.HealthInterval
		switch {
		case !passedRun:
			wait = min(wait, startProbeInterval)
		case fails == 0:
			// A replica that passed its last probe is probed at a slower
			// pace; one that failed one is probed again soon.
			wait = r.opts.HealthyInterval
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// startProbeInterval is how often a replica that has not yet passed its
// first health check is probed.
const startProbeInterval = 100 * time.Millisecond

func (w *watcher) set(h runtime.Health, msg, started string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.health, w.msg, w.started = h, msg, started
}

// probe GETs url: ok for a 2xx or 3xx answer; answered tells a server that
// answered with an error from one that could not be reached.
func probe(ctx context.Context, hc *http.Client, url string) (ok bool, msg string, answered bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err.Error(), false
	}
	req.Header.Set("User-Agent", runtime.HealthUserAgent)
	resp, err := hc.Do(req)
	if err != nil {
		return false, fmt.Sprintf("GET %s: %v", url, err), false
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return true, "", true
	}
	return false, fmt.Sprintf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body))), true
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Now()
	}
	return t
}
