package proxyd

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/quai-dev/quai/internal/proxy"
)

const (
	// startTimeout bounds how long Attach waits for a proxy it started.
	startTimeout = 15 * time.Second
	// pushTimeout bounds a push, retries included (a proxy being
	// restarted or upgraded answers within it).
	pushTimeout = 30 * time.Second
	// watchInterval is how often the daemon checks that its proxy lives.
	watchInterval = time.Second
	// statsMaxAge lets the metrics collector's four reads share a fetch.
	statsMaxAge = 500 * time.Millisecond
)

// ClientOptions configure Attach.
type ClientOptions struct {
	// DataDir is quai's data directory; the proxy's is DataDir/proxy.
	DataDir string
	// Executable is the quai binary run as `Executable --data-dir
	// DataDir proxy run` when no proxy runs. Required.
	Executable string
	// Settings are written to the proxy's config.json; a proxy started
	// from now on uses them, one adopted keeps its own listeners.
	Settings Settings
	// Logger receives the client's log; default discard.
	Logger *slog.Logger
}

// Client is the daemon's handle on its proxy process. It implements the
// engine's Router and the metrics collector's ProxySource over the control
// socket. Its methods are safe for concurrent use.
type Client struct {
	opts ClientOptions
	dir  string
	log  *slog.Logger
	hc   *http.Client

	// mu serializes pushes and restarts; routes is the table the proxy
	// acknowledged last, at generation gen.
	mu     sync.Mutex
	gen    uint64
	routes map[string][]proxy.Route
	status Status
	// adopted says the proxy ran before this client attached.
	adopted bool

	statsMu sync.Mutex
	stats   Stats
	statsAt time.Time
	// statsEpoch is the pushes the cached stats saw; epoch counts pushes,
	// so that stats read before a push (its certificates, its routes) are
	// not served after it.
	statsEpoch uint64
	epoch      atomic.Uint64

	stopWatch chan struct{}
	watchDone chan struct{}
}

// Attach adopts the proxy process of DataDir when one runs, else starts
// one, reads its table and watches it: a proxy that dies while the client
// is attached is started again and given the table.
func Attach(ctx context.Context, opts ClientOptions) (*Client, error) {
	if opts.DataDir == "" || opts.Executable == "" {
		return nil, errors.New("proxyd: ClientOptions needs DataDir and Executable")
	}
	c := newClient(opts.DataDir + "/proxy")
	c.opts = opts
	c.log = cmp.Or(opts.Logger, slog.New(slog.DiscardHandler))
	if err := WriteSettings(c.dir, opts.Settings); err != nil {
		return nil, fmt.Errorf("write proxy settings: %w", err)
	}
	st, err := c.Status(ctx)
	if err == nil {
		c.adopted = true
		c.log.Info("adopted the running proxy process", "pid", st.PID, "version", st.Version,
			"http", st.HTTPAddr, "https", st.HTTPSAddr, "generation", st.Generation)
		c.warnMismatch(st)
	} else if st, err = c.start(ctx); err != nil {
		return nil, err
	}
	if err := c.load(ctx, st); err != nil {
		return nil, err
	}
	c.stopWatch, c.watchDone = make(chan struct{}), make(chan struct{})
	go c.watch() //nolint:gosec // the watcher outlives Attach's ctx by design: it lasts until Close
	return c, nil
}

// Dial is a client of the proxy process of dir (DATA_DIR/proxy) that
// neither starts nor watches it: for `quai proxy status|stop|upgrade`.
func Dial(dir string) *Client {
	c := newClient(dir)
	c.log = slog.New(slog.DiscardHandler)
	return c
}

func newClient(dir string) *Client {
	sock := SocketPath(dir)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		MaxIdleConns:    4,
		IdleConnTimeout: 30 * time.Second,
	}
	return &Client{dir: dir, hc: &http.Client{Transport: tr}, routes: map[string][]proxy.Route{}}
}

// Refresh takes the proxy's table and generation as the base of the next
// SetRoutes, as Attach does: for a client made with Dial that pushes.
func (c *Client) Refresh(ctx context.Context) error {
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	return c.load(ctx, st)
}

// Snapshot is a copy of the table the proxy acknowledged last, per
// instance.
func (c *Client) Snapshot() map[string][]proxy.Route {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string][]proxy.Route, len(c.routes))
	for k, v := range c.routes {
		out[k] = slices.Clone(v)
	}
	return out
}

// Adopted reports whether the proxy was running before Attach.
func (c *Client) Adopted() bool { return c.adopted }

// load takes the proxy's table as the base that SetRoutes changes one
// instance of: a daemon that restarts re-routes its instances one by one,
// and the others must keep their routes meanwhile.
func (c *Client) load(ctx context.Context, st Status) error {
	var t Table
	if err := c.call(ctx, http.MethodGet, "/v1/routes", nil, &t); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen, c.status = t.Generation, st
	c.routes = t.Routes
	if c.routes == nil {
		c.routes = map[string][]proxy.Route{}
	}
	return nil
}

func (c *Client) warnMismatch(st Status) {
	cfg := c.opts.Settings.Proxy
	for _, p := range [][2]string{{cfg.HTTPAddr, st.HTTPAddr}, {cfg.HTTPSAddr, st.HTTPSAddr}} {
		want, have := p[0], p[1]
		_, wp, _ := net.SplitHostPort(want)
		_, hp, _ := net.SplitHostPort(have)
		if (want == "") != (have == "") || (wp != "0" && wp != hp) {
			c.log.Warn("the running proxy listens elsewhere than configured; it keeps its listeners until it is stopped (`quai proxy stop`, then start quai again)",
				"configured", want, "listening", have)
		}
	}
}

// start runs a new proxy process and waits until it answers.
func (c *Client) start(ctx context.Context) (Status, error) {
	logf, err := os.OpenFile(LogPath(c.dir), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return Status{}, fmt.Errorf("open proxy log: %w", err)
	}
	defer func() { _ = logf.Close() }()
	cmd := exec.Command(c.opts.Executable, "--data-dir", c.opts.DataDir, "proxy", "run") //nolint:gosec // quai's own executable
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = withoutEnv(os.Environ(), handoffEnv)
	// Its own session: a signal to the daemon's process group (Ctrl-C in
	// a terminal, systemd's KillMode=control-group aside) does not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return Status{}, fmt.Errorf("start the proxy process (%s proxy run): %w", c.opts.Executable, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // reaps it, whenever it exits
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := c.Status(sctx)
		cancel()
		if err == nil {
			c.log.Info("started the proxy process", "pid", st.PID, "http", st.HTTPAddr, "https", st.HTTPSAddr)
			return st, nil
		}
		select {
		case err := <-exited:
			// Another proxy holding the lock is one starting up: wait for it.
			if lockedByOther(c.dir) {
				exited = nil
				continue
			}
			return Status{}, fmt.Errorf("the proxy process exited at start (%w); see %s", err, LogPath(c.dir))
		case <-deadline.C:
			_ = cmd.Process.Kill()
			return Status{}, fmt.Errorf("the proxy process did not answer on %s within %s; see %s", SocketPath(c.dir), startTimeout, LogPath(c.dir))
		case <-ctx.Done():
			return Status{}, ctx.Err()
		case <-tick.C:
		}
	}
}

// lockedByOther reports whether some process holds the proxy's lock.
func lockedByOther(dir string) bool {
	f, err := lockProxyDir(dir)
	if err != nil {
		return errors.Is(err, ErrRunning)
	}
	_ = f.Close()
	return false
}

// watch restarts the proxy when it stops answering while attached.
func (c *Client) watch() {
	defer close(c.watchDone)
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	misses := 0
	for {
		select {
		case <-c.stopWatch:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := c.Status(ctx)
		cancel()
		if err == nil {
			misses = 0
			c.mu.Lock()
			c.status = st
			c.mu.Unlock()
			continue
		}
		if misses++; misses < 2 {
			continue
		}
		misses = 0
		c.restart(err)
	}
}

func (c *Client) restart(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if lockedByOther(c.dir) {
		// Alive but slow (or mid-upgrade): not ours to replace.
		return
	}
	c.log.Error("the proxy process is gone; starting a new one (connections it held were lost)", "err", cause)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout+time.Second)
	defer cancel()
	st, err := c.start(ctx)
	if err != nil {
		c.log.Error("restart the proxy process", "err", err)
		return
	}
	c.status = st
	// The new process serves the table it persisted; the client's is the
	// one acknowledged last, the same unless the file was lost.
	c.gen = max(c.gen, st.Generation)
	if err := c.pushLocked(c.routes); err != nil {
		c.log.Error("give the restarted proxy its routes", "err", err)
	}
}

// Close stops watching the proxy; the proxy process keeps running.
func (c *Client) Close() {
	if c.stopWatch != nil {
		close(c.stopWatch)
		<-c.watchDone
		c.stopWatch = nil
	}
	c.hc.CloseIdleConnections()
}

// SetRoutes atomically replaces every route of instance, in the proxy
// process, and returns once it serves them.
func (c *Client) SetRoutes(instance string, routes []proxy.Route) error {
	if instance == "" {
		return fmt.Errorf("%w: the instance name is empty", proxy.ErrInvalidRoute)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	next := maps.Clone(c.routes)
	if len(routes) == 0 {
		delete(next, instance)
	} else {
		next[instance] = slices.Clone(routes)
	}
	return c.pushLocked(next)
}

// RemoveInstance drops every route of instance.
func (c *Client) RemoveInstance(instance string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.routes[instance]; !ok {
		return
	}
	next := maps.Clone(c.routes)
	delete(next, instance)
	if err := c.pushLocked(next); err != nil {
		c.log.Error("remove instance routes from the proxy", "instance", instance, "err", err)
	}
}

// pushLocked sends next as generation gen+1; c.mu is held. A proxy that
// is momentarily away (restarted, upgraded) is retried until pushTimeout.
func (c *Client) pushLocked(next map[string][]proxy.Route) error {
	ctx, cancel := context.WithTimeout(context.Background(), pushTimeout)
	defer cancel()
	gen := c.gen + 1
	wait := 50 * time.Millisecond
	for {
		var ack Table
		err := c.call(ctx, http.MethodPut, "/v1/routes", Table{Generation: gen, Routes: next}, &ack)
		var re *remoteError
		switch {
		case err == nil:
			c.gen, c.routes = gen, next
			c.epoch.Add(1)
			return nil
		case errors.As(err, &re) && re.code == codeStale:
			// Someone pushed behind this client's back (a proxy started
			// from an older file): take a generation above the proxy's.
			if st, serr := c.Status(ctx); serr == nil {
				gen = st.Generation + 1
				continue
			}
		case errors.As(err, &re) && re.code != codeHandedOver:
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("push routes to the proxy process: %w", err)
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// Drain waits until no request or tunnel is in flight to targets in the
// proxy process, or ctx ends.
func (c *Client) Drain(ctx context.Context, targets []string) error {
	req := drainRequest{Targets: targets}
	if dl, ok := ctx.Deadline(); ok {
		req.Timeout = time.Until(dl)
	}
	for {
		err := c.call(ctx, http.MethodPost, "/v1/drain", req, nil)
		var re *remoteError
		if err == nil || errors.As(err, &re) || ctx.Err() != nil {
			if re != nil && re.code == codeTimeout {
				return fmt.Errorf("drain %v: %w", targets, context.DeadlineExceeded)
			}
			return err
		}
		// The proxy is being restarted or upgraded: its successor
		// answers in a moment.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Status asks the proxy process how it is.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.call(ctx, http.MethodGet, "/v1/status", nil, &st)
	return st, err
}

// Stop asks the proxy process to drain and exit.
func (c *Client) Stop(ctx context.Context) (Status, error) {
	var st Status
	err := c.call(ctx, http.MethodPost, "/v1/stop", nil, &st)
	return st, err
}

// Upgrade asks the proxy process to hand its sockets to a new process of
// executable (empty: the proxy's own) and drain.
func (c *Client) Upgrade(ctx context.Context, executable string) (UpgradeResult, error) {
	var res UpgradeResult
	err := c.call(ctx, http.MethodPost, "/v1/upgrade", upgradeRequest{Executable: executable}, &res)
	return res, err
}

// HTTPAddr is the proxy's bound HTTP address, empty when off.
func (c *Client) HTTPAddr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status.HTTPAddr
}

// HTTPSAddr is the proxy's bound HTTPS address, empty when off.
func (c *Client) HTTPSAddr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status.HTTPSAddr
}

// MaxConns is the proxy's bound on client connections.
func (c *Client) MaxConns() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status.MaxConns
}

// PID is the proxy process's pid as last seen.
func (c *Client) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status.PID
}

func (c *Client) fetchStats() Stats {
	c.statsMu.Lock()
	defer c.statsMu.Unlock()
	epoch := c.epoch.Load()
	if epoch == c.statsEpoch && time.Since(c.statsAt) < statsMaxAge {
		return c.stats
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var s Stats
	if err := c.call(ctx, http.MethodGet, "/v1/stats", nil, &s); err != nil {
		c.log.Debug("read proxy stats", "err", err)
		return Stats{}
	}
	c.stats, c.statsAt, c.statsEpoch = s, time.Now(), epoch
	return s
}

// Stats reads the routes' request counters from the proxy process.
func (c *Client) Stats() []proxy.RouteStats { return c.fetchStats().Routes }

// OpenConns is the proxy's open client connections.
func (c *Client) OpenConns() int { return c.fetchStats().OpenConns }

// Unrouted counts requests no route matched.
func (c *Client) Unrouted() uint64 { return c.fetchStats().Unrouted }

// Certificates lists the proxy's certificates of routed hosts.
func (c *Client) Certificates() []proxy.CertStatus { return c.fetchStats().Certificates }

// remoteError is an error the proxy process answered with; it unwraps to
// the proxy's sentinel so errors.Is works as with an in-process proxy.
type remoteError struct {
	code, msg string
}

func (e *remoteError) Error() string { return e.msg }

func (e *remoteError) Unwrap() error {
	switch e.code {
	case codeConflict:
		return proxy.ErrConflict
	case codeInvalid:
		return proxy.ErrInvalidRoute
	case codeStale:
		return ErrStale
	}
	return nil
}

func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://quai-proxy"+path, body)
	if err != nil {
		return err
	}
	// Every call may be repeated: this lets the transport retry one sent
	// on a kept-alive connection the proxy closed (an upgrade).
	req.Header.Set("Idempotency-Key", "")
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			return fmt.Errorf("%w (%s): %w", ErrNotRunning, SocketPath(c.dir), err)
		}
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode/100 != 2 {
		var eb errorBody
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&eb); err != nil || eb.Error.Code == "" {
			return fmt.Errorf("proxy process answered %s to %s %s", resp.Status, method, path)
		}
		return &remoteError{code: eb.Error.Code, msg: eb.Error.Message}
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode proxy answer to %s %s: %w", method, path, err)
	}
	return nil
}
