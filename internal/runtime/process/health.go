package process

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// Health check kinds.
const (
	healthNone     = ""
	healthHTTP     = "http"     // GET URL, 2xx/3xx is healthy
	healthCmd      = "cmd"      // run Cmd with the replica's environment, exit 0 is healthy
	healthRedis    = "redis"    // PING gets a reply other than -LOADING
	healthMySQL    = "mysql"    // the server sends its handshake
	healthPostgres = "postgres" // pg_isready (Cmd), else a TCP connect
)

// healthSpec says how the daemon checks a replica.
type healthSpec struct {
	Kind        string        `json:"kind,omitempty"`
	URL         string        `json:"url,omitempty"`
	Cmd         []string      `json:"cmd,omitempty"`
	Interval    time.Duration `json:"interval,omitempty"`
	Timeout     time.Duration `json:"timeout,omitempty"`
	Retries     int           `json:"retries,omitempty"`
	StartPeriod time.Duration `json:"start_period,omitempty"`
	// Healthy, when set, is the interval between checks of a replica that
	// is healthy and passed its last check (Interval is used otherwise).
	Healthy time.Duration `json:"healthy,omitempty"`
}

// healthFor picks the check of an app replica: the x-quai HTTP path when
// set, else the Compose healthcheck command, else none.
func (r *Runtime) healthFor(svc *stack.Service, port int) healthSpec {
	hc := svc.Healthcheck
	h := healthSpec{Interval: r.opts.HealthInterval, Healthy: r.opts.HealthyInterval, Timeout: 5 * time.Second, Retries: 3}
	if hc != nil {
		if hc.Interval > 0 {
			h.Interval, h.Healthy = hc.Interval, hc.Interval
		}
		if hc.Timeout > 0 {
			h.Timeout = hc.Timeout
		}
		if hc.Retries > 0 {
			h.Retries = hc.Retries
		}
		h.StartPeriod = hc.StartPeriod
	}
	switch {
	case svc.HealthPath != "":
		path := svc.HealthPath
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		h.Kind, h.URL = healthHTTP, "http://127.0.0.1:"+strconv.Itoa(port)+path
	case hc != nil && !hc.Disable && len(hc.Test) > 0 && hc.Test[0] != "NONE":
		h.Kind = healthCmd
		switch hc.Test[0] {
		case "CMD":
			h.Cmd = append([]string(nil), hc.Test[1:]...)
		case "CMD-SHELL":
			h.Cmd = []string{"/bin/sh", "-c", strings.Join(hc.Test[1:], " ")}
		default:
			h.Cmd = append([]string(nil), hc.Test...)
		}
		if len(h.Cmd) == 0 {
			h.Kind = healthNone
		}
	default:
		h.Kind = healthNone
	}
	return h
}

// watcher runs one replica's health checks in the daemon and samples its
// CPU use.
type watcher struct {
	spec   *shimSpec
	httpc  *http.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	appPid   int
	health   runtime.Health
	msg      string
	failures int
	// cpu holds the samples of the app's CPU ticks over the last
	// cpuWindow, oldest first.
	cpu    []cpuSample
	cpuPct float64
}

// cpuWindow is how far back a replica's CPU use is measured. The kernel
// counts CPU time in clock ticks of 1/100 s: over one health interval (1 s)
// an app using less than 1 % of a CPU mostly shows no tick, and so read as
// idle; over 10 s the resolution is 0.1 %.
const cpuWindow = 10 * time.Second

// cpuSample is the app's CPU ticks at a time.
type cpuSample struct {
	ticks uint64
	at    time.Time
}

// addCPU records a sample and sets cpuPct to the use since the oldest
// sample of the window, in percent of one CPU; w.mu is held.
func (w *watcher) addCPU(ticks uint64, now time.Time) {
	if n := len(w.cpu); n > 0 && ticks < w.cpu[n-1].ticks {
		w.cpu = w.cpu[:0] // a counter that went back: another process group
	}
	w.cpu = append(w.cpu, cpuSample{ticks, now})
	for len(w.cpu) > 2 && now.Sub(w.cpu[1].at) >= cpuWindow {
		w.cpu = w.cpu[1:]
	}
	first := w.cpu[0]
	if el := now.Sub(first.at).Seconds(); el > 0 {
		w.cpuPct = float64(ticks-first.ticks) / clockTicks / el * 100
	}
}

func (r *Runtime) watch(dir string, spec *shimSpec) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.watchers[dir] != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{spec: spec, httpc: r.httpc, cancel: cancel, done: make(chan struct{}), health: runtime.HealthStarting}
	r.watchers[dir] = w
	if r.events != nil {
		r.events.add(dir, spec)
	}
	go w.run(ctx, r, dir, spec)
}

func (r *Runtime) unwatch(dir string) {
	r.mu.Lock()
	w := r.watchers[dir]
	delete(r.watchers, dir)
	if r.events != nil {
		r.events.remove(dir)
	}
	r.mu.Unlock()
	if w != nil {
		w.stop()
	}
}

func (w *watcher) stop() {
	w.cancel()
	<-w.done
}

// status returns the health for the app process st describes; a restarted
// app is "starting" until its first check passes.
func (w *watcher) status(st *shimState) (runtime.Health, string, float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if st.AppPid != w.appPid {
		return runtime.HealthStarting, "", 0
	}
	return w.health, w.msg, w.cpuPct
}

func (w *watcher) run(ctx context.Context, r *Runtime, dir string, spec *shimSpec) {
	defer close(w.done)
	h := spec.Health
	for {
		st, err := readState(dir)
		if err == nil && !alive(st.ShimPid, st.ShimStart) {
			if !shouldRun(st) {
				return
			}
			// The supervisor was killed: the app runs unwatched and would
			// never be restarted.
			if err := r.resupervise(ctx, dir, spec, st); err != nil {
				if ctx.Err() == nil {
					r.log.Error("cannot supervise a replica again", "dir", dir, "err", err)
				}
				return
			}
			continue
		}
		wait := h.Interval
		if wait <= 0 {
			wait = r.opts.HealthInterval
		}
		if err == nil && st.Phase == phaseRunning && st.AppPid > 0 {
			w.sample(st)
			if h.Kind != healthNone {
				w.check(ctx, spec, st)
			}
			w.mu.Lock()
			switch {
			case w.health != runtime.HealthHealthy:
				// Check often until the replica is first healthy, so a deploy
				// waits for the replica, not for an interval (a Compose
				// interval is 30s by default).
				wait = min(wait, startProbeInterval)
			case w.failures > 0:
				// A healthy replica that failed a check is checked again
				// soon, so that it is taken out in a few intervals.
			case h.Healthy > 0:
				wait = h.Healthy
			}
			w.mu.Unlock()
		} else if wait > r.opts.HealthInterval {
			wait = r.opts.HealthInterval
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

func (w *watcher) sample(st *shimState) {
	ticks, _ := groupUsage(st.AppPid)
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.appPid != st.AppPid {
		// A new app process (restarted): its health starts over.
		w.appPid, w.health, w.failures, w.msg = st.AppPid, runtime.HealthStarting, 0, ""
		w.cpu, w.cpuPct = nil, 0
	}
	w.addCPU(ticks, now)
}

func (w *watcher) check(ctx context.Context, spec *shimSpec, st *shimState) {
	h := spec.Health
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	err := probe(cctx, w.httpc, spec)
	cancel()
	if ctx.Err() != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.appPid != st.AppPid {
		return
	}
	if err == nil {
		w.health, w.failures, w.msg = runtime.HealthHealthy, 0, ""
		return
	}
	w.msg = "health check failed: " + err.Error()
	if w.health != runtime.HealthHealthy && time.Since(st.Started) < h.StartPeriod {
		return // failures during the start period do not count
	}
	w.failures++
	retries := h.Retries
	if retries <= 0 {
		retries = 3
	}
	if w.failures >= retries {
		w.health = runtime.HealthUnhealthy
	}
}

// probe runs one check; nil means healthy. httpc makes HTTP checks.
func probe(ctx context.Context, httpc *http.Client, spec *shimSpec) error {
	h := spec.Health
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(spec.Port))
	switch h.Kind {
	case healthHTTP:
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", runtime.HealthUserAgent)
		resp, err := httpc.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode >= 400 {
			return fmt.Errorf("GET %s: %s", h.URL, resp.Status)
		}
		return nil
	case healthCmd, healthPostgres:
		if len(h.Cmd) == 0 {
			return dialCheck(ctx, addr, nil)
		}
		return runCheck(ctx, spec, h.Cmd)
	case healthRedis:
		return dialCheck(ctx, addr, func(c net.Conn) error {
			if _, err := c.Write([]byte("PING\r\n")); err != nil {
				return err
			}
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				return err
			}
			// -NOAUTH means a password is set: the server is up.
			if strings.HasPrefix(line, "-LOADING") || !strings.HasPrefix(line, "+") && !strings.HasPrefix(line, "-") {
				return fmt.Errorf("redis answered %q", strings.TrimSpace(line))
			}
			return nil
		})
	case healthMySQL:
		return dialCheck(ctx, addr, func(c net.Conn) error {
			// The greeting is a packet: 3-byte length, sequence, then 0x0a
			// (protocol 10) when ready or 0xff (error) otherwise.
			b := make([]byte, 5)
			if _, err := c.Read(b); err != nil {
				return err
			}
			if b[4] == 0xff {
				return fmt.Errorf("mysql refused the connection")
			}
			return nil
		})
	}
	return nil
}

func dialCheck(ctx context.Context, addr string, talk func(net.Conn) error) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if talk == nil {
		return nil
	}
	return talk(c)
}

// runCheck runs a check command like Exec does: the replica's environment,
// directory and user.
func runCheck(ctx context.Context, spec *shimSpec, argv []string) error {
	cmd, err := replicaCommand(ctx, spec, argv)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > 200 {
			msg = msg[len(msg)-200:]
		}
		if msg != "" {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}

// replicaCommand builds a command that runs with the replica's environment,
// working directory and user.
func replicaCommand(ctx context.Context, spec *shimSpec, argv []string) (*exec.Cmd, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("empty command")
	}
	env := envMap(spec.Env)
	path, err := resolveCommand(argv[0], spec.Dir, env["PATH"])
	if err != nil {
		return nil, err
	}
	// Health checks and exec see what the app sees, secret environment
	// included (a health check may need the password).
	full, err := spec.environ()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = full
	cmd.Dir = spec.Dir
	cmd.SysProcAttr = sysProcAttr(spec)
	return cmd, nil
}

// startProbeInterval is how often a replica that is not yet healthy is
// checked.
const startProbeInterval = 100 * time.Millisecond
