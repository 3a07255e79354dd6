package proxyd

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/quai-dev/quai/internal/fsutil"
	"github.com/quai-dev/quai/internal/memtrim"
	"github.com/quai-dev/quai/internal/proxy"
	"github.com/quai-dev/quai/internal/version"
)

// defaultDrainTimeout bounds the drain of a stopping or upgraded proxy.
const defaultDrainTimeout = 30 * time.Second

// RunOptions configure Run.
type RunOptions struct {
	// Dir is the proxy's directory, DATA_DIR/proxy. Required.
	Dir string
	// Logger receives the proxy's log; nil builds one on Stderr at the
	// Settings' level.
	Logger *slog.Logger
	// Stderr is where a built logger writes; default os.Stderr.
	Stderr io.Writer
}

// server is a running proxy process.
type server struct {
	dir      string
	log      *slog.Logger
	settings Settings
	px       *proxy.Proxy
	lock     *os.File
	ctl      net.Listener
	ctlSrv   *http.Server
	started  time.Time
	upgrades int

	// mu serializes pushes and upgrades: an upgrade must hand over the
	// table last persisted.
	mu  sync.Mutex
	gen uint64

	// done is closed when the process should stop; handedOff says it
	// stops because a successor took over.
	done      chan struct{}
	doneOnce  sync.Once
	handedOff bool
	// handingOver is set (under mu) once a successor serves: pushes are
	// refused from then on, so that none lands in this process's table.
	handingOver bool
}

// Run is `quai proxy run`: it serves until ctx ends (SIGTERM), a stop
// request arrives, or a successor took over after an upgrade; then it
// drains and returns.
func Run(ctx context.Context, opts RunOptions) (err error) {
	if opts.Dir == "" {
		return errors.New("proxyd: RunOptions.Dir is empty")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create proxy directory: %w", err)
	}
	s := &server{dir: dir, started: time.Now(), done: make(chan struct{})}
	inh, err := inherited()
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			inh.close()
			if s.lock != nil {
				_ = s.lock.Close()
			}
		}
	}()
	if inh != nil {
		s.lock, s.upgrades = inh.lock, inh.upgrades
	} else if s.lock, err = lockProxyDir(dir); err != nil {
		return err
	}
	if s.settings, err = readSettings(dir); err != nil {
		return err
	}
	s.log = opts.Logger
	if s.log == nil {
		var level slog.Level
		if err := level.UnmarshalText([]byte(cmp.Or(s.settings.LogLevel, "info"))); err != nil {
			return fmt.Errorf("proxy log level: %w", err)
		}
		s.log = slog.New(slog.NewTextHandler(cmp.Or[io.Writer](opts.Stderr, os.Stderr), &slog.HandlerOptions{Level: level}))
	}
	cfg := s.settings.Proxy
	cfg.Logger = s.log
	proxy.RaiseFileLimit()
	if s.px, err = proxy.New(cfg); err != nil {
		return err
	}
	// The last table is in place before the first connection is accepted.
	tbl, err := readTable(dir)
	if err != nil {
		return err
	}
	if err := s.px.SetTable(tbl.Routes); err != nil {
		// A table that no longer loads (a custom certificate file gone)
		// must not keep the proxy from serving the rest: the daemon
		// pushes a fresh one when it attaches.
		s.log.Error("the persisted route table does not load; serving no routes until the daemon pushes one", "err", err)
	} else {
		s.gen = tbl.Generation
	}
	if inh != nil {
		err = s.px.StartOn(inh.http, inh.https)
		s.ctl = inh.ctl
	} else {
		err = s.px.Start()
	}
	if err != nil {
		return err
	}
	if s.ctl == nil {
		if s.ctl, err = listenControl(dir); err != nil {
			_ = s.px.Shutdown(context.Background())
			return err
		}
	}
	if err := fsutil.WriteFile(filepath.Join(dir, pidName), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		s.log.Warn("write proxy pid file", "err", err)
	}
	gen := s.gen
	s.ctlSrv = &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.ctlSrv.Serve(s.ctl) }()
	if inh != nil {
		inh.ready()
	}
	s.log.Info("quai proxy ready", "pid", os.Getpid(), "http", s.px.HTTPAddr(), "https", s.px.HTTPSAddr(),
		"routes", len(tbl.Routes), "generation", gen, "upgrades", s.upgrades)
	// Serving, the proxy gives back the executable's pages only start-up
	// touched (internal/memtrim): it is the same executable as the daemon.
	trimCtx, stopTrim := context.WithCancel(ctx)
	defer stopTrim()
	memtrim.Later(trimCtx, 10*time.Second, s.log)
	select {
	case <-ctx.Done():
	case <-s.done:
	}
	return s.shutdown()
}

// stop makes Run return.
func (s *server) stop(handedOff bool) {
	s.doneOnce.Do(func() {
		s.handedOff = handedOff
		close(s.done)
	})
}

// shutdown stops accepting, drains and releases. After a handoff the
// control socket, pid file and lock belong to the successor: only this
// process's copies are closed.
func (s *server) shutdown() error {
	drain := cmp.Or(s.settings.DrainTimeout, defaultDrainTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	s.log.Info("quai proxy stopping: draining in-flight requests and tunnels", "deadline", drain, "handed_off", s.handedOff)
	// The control socket first, so that no push lands in a table about to
	// go; the answer to a stop or upgrade request is already written.
	if s.handedOff {
		// Closing the listener only closes this process's descriptor; the
		// successor keeps accepting on the same socket.
		_ = s.ctl.Close()
	} else {
		_ = s.ctl.Close()
		_ = os.Remove(SocketPath(s.dir))
		_ = os.Remove(filepath.Join(s.dir, pidName))
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = s.ctlSrv.Shutdown(sctx)
	scancel()
	err := s.px.Shutdown(ctx)
	_ = s.lock.Close()
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("quai proxy stopped with requests or tunnels still open after the drain deadline", "deadline", drain)
		return nil
	}
	s.log.Info("quai proxy stopped")
	return err
}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		gen := s.gen
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, Status{
			PID: os.Getpid(), Version: version.Version, Commit: version.Commit, Started: s.started,
			HTTPAddr: s.px.HTTPAddr(), HTTPSAddr: s.px.HTTPSAddr(), MaxConns: s.px.MaxConns(),
			Generation: gen, Upgrades: s.upgrades,
		})
	})
	mux.HandleFunc("GET /v1/routes", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		t := Table{Generation: s.gen, Routes: s.px.Snapshot()}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, t)
	})
	mux.HandleFunc("PUT /v1/routes", s.putRoutes)
	mux.HandleFunc("POST /v1/drain", s.drain)
	mux.HandleFunc("GET /v1/stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, Stats{
			Routes: s.px.Stats(), OpenConns: s.px.OpenConns(), Unrouted: s.px.Unrouted(), Certificates: s.px.Certificates(),
		})
	})
	mux.HandleFunc("POST /v1/upgrade", s.upgrade)
	mux.HandleFunc("POST /v1/stop", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, Status{PID: os.Getpid()})
		s.stop(false)
	})
	return mux
}

func (s *server) putRoutes(w http.ResponseWriter, r *http.Request) {
	var t Table
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<20)).Decode(&t); err != nil {
		writeError(w, http.StatusBadRequest, codeBadReq, fmt.Sprintf("decode route table: %v", err))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.handingOver:
		writeError(w, http.StatusServiceUnavailable, codeHandedOver, "this proxy process has handed over to another; retry")
		return
	case t.Generation == s.gen:
		// A push repeated (the daemon retrying after a lost answer).
		writeJSON(w, http.StatusOK, Table{Generation: s.gen})
		return
	case t.Generation < s.gen:
		writeError(w, http.StatusConflict, codeStale, fmt.Sprintf("%v: pushed %d, the proxy has %d", ErrStale, t.Generation, s.gen))
		return
	}
	if err := s.px.SetTable(t.Routes); err != nil {
		code := codeInvalid
		if errors.Is(err, proxy.ErrConflict) {
			code = codeConflict
		}
		writeError(w, http.StatusUnprocessableEntity, code, err.Error())
		return
	}
	// Persisted before the answer: a table the daemon was told about
	// survives a crash of this process.
	if err := writeTable(s.dir, Table{Generation: t.Generation, Routes: s.px.Snapshot()}); err != nil {
		s.log.Error("persist route table", "err", err)
		writeError(w, http.StatusInternalServerError, codeInternal, err.Error())
		return
	}
	s.gen = t.Generation
	writeJSON(w, http.StatusOK, Table{Generation: s.gen})
}

func (s *server) drain(w http.ResponseWriter, r *http.Request) {
	var req drainRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, codeBadReq, fmt.Sprintf("decode drain request: %v", err))
		return
	}
	ctx := r.Context()
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	if err := s.px.Drain(ctx, req.Targets); err != nil {
		writeError(w, http.StatusGatewayTimeout, codeTimeout, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, msg
	writeJSON(w, status, b)
}

// lockProxyDir takes the proxy's lock, which a running proxy holds (and
// hands to its successor on an upgrade).
func lockProxyDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open proxy lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if b, rerr := os.ReadFile(filepath.Join(dir, pidName)); rerr == nil {
				holder = "pid " + string(trimNL(b))
			}
			return nil, fmt.Errorf("%w (%s, %s); stop it with `quai proxy stop`", ErrRunning, dir, holder)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// listenControl binds the control socket; the lock proves a socket file
// left there is stale.
func listenControl(dir string) (net.Listener, error) {
	path := SocketPath(dir)
	if len(path) > 107 {
		return nil, fmt.Errorf("proxy control socket path %s is longer than the 107 bytes a unix socket allows; choose a shorter --data-dir", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale proxy socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	// Removed by hand when the proxy stops, and left to the successor
	// when it hands over.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("restrict proxy socket: %w", err)
	}
	return ln, nil
}

func readSettings(dir string) (Settings, error) {
	var st Settings
	b, err := os.ReadFile(filepath.Join(dir, configName))
	if errors.Is(err, os.ErrNotExist) {
		return st, fmt.Errorf("%w in %s: the daemon writes it; start `quai serve` once with this data directory", ErrNoConfig, dir)
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("read %s: %w", filepath.Join(dir, configName), err)
	}
	return st, nil
}

// WriteSettings stores the settings a proxy process of dir starts with.
func WriteSettings(dir string, st Settings) error {
	st.Proxy.Logger, st.Proxy.ACMERoots = nil, nil
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return fsutil.WriteFile(filepath.Join(dir, configName), b, 0o600)
}

func readTable(dir string) (Table, error) {
	var t Table
	b, err := os.ReadFile(filepath.Join(dir, tableName))
	if errors.Is(err, os.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return t, err
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("read %s: %w", filepath.Join(dir, tableName), err)
	}
	return t, nil
}

func writeTable(dir string, t Table) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return fsutil.WriteFile(filepath.Join(dir, tableName), b, 0o600)
}
