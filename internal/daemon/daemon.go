// Package daemon wires quai's control plane: the store, the runtimes, the
// proxy (a process of its own that the daemon adopts or starts and pushes
// route tables to, internal/proxyd; or inside the daemon), the engine and
// the API on a unix socket. It is wiring only: every
// dependency is an explicit constructor argument or built here from Config,
// nothing lives in package-level state, and behaviour belongs to the
// packages it wires.
//
// It may import every internal package except the CLI and the client.
package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/quai-dev/quai/internal/alert"
	"github.com/quai-dev/quai/internal/api"
	"github.com/quai-dev/quai/internal/apitls"
	"github.com/quai-dev/quai/internal/auth/accounts"
	"github.com/quai-dev/quai/internal/datadir"
	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/memtrim"
	"github.com/quai-dev/quai/internal/metrics"
	"github.com/quai-dev/quai/internal/proxy"
	"github.com/quai-dev/quai/internal/proxyd"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/process"
	"github.com/quai-dev/quai/internal/secrets"
	"github.com/quai-dev/quai/internal/store"
	"github.com/quai-dev/quai/internal/version"
	"github.com/quai-dev/quai/internal/web"
	"github.com/quai-dev/quai/internal/wire"
	"golang.org/x/net/netutil"
)

// Default listen addresses of the proxy.
const (
	DefaultHTTPAddr  = ":8080"
	DefaultHTTPSAddr = ":8443"
)

// maxSocketPath is the longest unix socket path Linux accepts (sun_path less its NUL).
const maxSocketPath = 107

// Config says where the daemon keeps its state and listens.
type Config struct {
	// DataDir holds the store, the socket, runtime data and logs. Required.
	DataDir string
	// Socket is the API's unix socket; default DataDir/quai.sock.
	Socket string
	// HTTPAddr and HTTPSAddr are the proxy's listen addresses; empty means the
	// defaults, "off" disables the listener.
	HTTPAddr  string
	HTTPSAddr string
	// ProxyMaxConns and ProxyMaxConnsPerIP bound the proxy's client
	// connections (see proxy.Config.MaxConns and MaxConnsPerIP); zero means
	// the proxy's defaults, derived from the file descriptor limit.
	ProxyMaxConns      int
	ProxyMaxConnsPerIP int
	// ACMEEmail is the ACME account's contact; ACMECA the CA of routes
	// with tls auto: proxy.ACMEProduction (default), proxy.ACMEStaging or
	// a directory URL (see proxy.Config).
	ACMEEmail, ACMECA string
	// ProxyExecutable is the quai binary the proxy process runs from
	// (`quai proxy run`, internal/proxyd): the daemon adopts the proxy
	// process of DataDir or starts one, and leaves it running when it
	// stops, so that restarts and upgrades of the daemon drop no request.
	// Empty runs the proxy inside the daemon, which stops it with itself
	// (tests, embedding).
	ProxyExecutable string
	// ProxyLogLevel is the proxy process's log level (info).
	ProxyLogLevel string
	// ShimPath is the executable the process runtime supervises replicas
	// with; default the running executable.
	ShimPath string
	// Logger receives the daemon's log; default discard.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// HealthTimeout and DrainTimeout bound zero-downtime switchovers; zero
	// means the engine's defaults.
	HealthTimeout time.Duration
	DrainTimeout  time.Duration
	// CrashLimit is how often a new replica may crash before its deploy
	// fails at once; zero means the engine's default (3).
	CrashLimit int
	// DefaultHost is the host pattern of routes that name none; empty means
	// the engine's default.
	DefaultHost string
	// DockerHost is the Docker Engine of the docker runtime (unix://,
	// tcp://, ssh://); empty means DOCKER_HOST, else the local socket;
	// DockerOff leaves the docker runtime out.
	DockerHost string
	// DockerNetworkPool is the IPv4 range instance networks get subnets
	// from once the engine's address pools are used up; empty means
	// docker.DefaultNetworkPool.
	DockerNetworkPool string
	// Kube configures the kubernetes runtime.
	Kube KubeConfig
	// Secrets opens projects' sealed secret files for the engine; nil
	// uses the daemon's keyring (DATA_DIR/keys). Tests may stand in for it.
	Secrets engine.SecretOpener
	// Backup tunes the backup scheduler.
	Backup BackupConfig
	// AlertsConfig is the daemon's alert rules file (quai serve
	// --alerts-config); empty means the defaults. AlertMetrics feeds the
	// 5xx, latency and disk rules (the metrics collector); nil turns them
	// off. AlertPollInterval is how often alert rules poll (10s).
	AlertsConfig      string
	AlertMetrics      alert.MetricSource
	AlertPollInterval time.Duration
	// Metrics configures metrics collection, history and the Prometheus
	// listener (metrics.go).
	Metrics MetricsConfig
	// Remote configures the network API over TLS (remote.go).
	Remote RemoteConfig
	// Authn authenticates the network API's requests; nil answers them 401.
	Authn api.Authenticator
	// Dashboard configures the dashboard's loopback listener (dashboard.go).
	Dashboard DashboardConfig
}

// Daemon is a running control plane.
type Daemon struct {
	cfg Config
	log *slog.Logger

	lock  *dirLock
	id    string
	store *store.SQLite
	// feed hands every operation's events to GET /api/v1/events.
	feed     eventHub
	keys     *secrets.Keyring // age keys of sealed project files, per (org, env)
	runtimes map[string]runtime.Runtime
	proxy    router
	// embedded is the proxy when it runs in this process, edge the
	// client of the proxy process otherwise (proxy.go).
	embedded *proxy.Proxy
	edge     *proxyd.Client
	engine   *engine.Engine
	backups  *backupSettings
	repos    *repos
	sched    *scheduler
	alerts   *alert.Evaluator
	listener net.Listener
	server   *http.Server
	// api serves the socket and, behind tokens, the network (RemoteHandler).
	api *api.Server
	// remoteLn and remoteSrv serve the network API (remote.go); apiCert
	// is its certificate, apiCertStop ends an ACME certificate's upkeep.
	remoteLn    net.Listener
	remoteSrv   *http.Server
	apiCert     apitls.Source
	apiCertStop context.CancelFunc
	// collector samples metrics (metrics.go); history is its store and
	// metricsSrv the Prometheus listener, when asked for.
	collector  *metrics.Collector
	history    *metrics.History
	metricsSrv *http.Server
	metricsLn  net.Listener
	serveErr   chan error
	// web is the dashboard; dashLn and dashSrv its loopback listener
	// (dashboard.go).
	web     *web.Handler
	dashLn  net.Listener
	dashSrv *http.Server
	// warnings are reported by GET /info (see api.Info.Warnings).
	warnings []string

	// cancel stops the API's streams (log follows, event streams) at shutdown.
	cancel context.CancelFunc

	shutdownOnce sync.Once
	shutdownErr  error
}

// New checks cfg and fills in defaults; Start does the work.
func New(cfg Config) (*Daemon, error) {
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("%w: Config.DataDir is empty", datadir.ErrUnresolved)
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data directory %s: %w", cfg.DataDir, err)
	}
	cfg.DataDir = dir
	cfg.Socket = cmp.Or(cfg.Socket, datadir.SocketPath(dir))
	if len(cfg.Socket) > maxSocketPath {
		return nil, fmt.Errorf("socket path %s is %d bytes, longer than the %d a unix socket allows; choose a shorter --socket or --data-dir",
			cfg.Socket, len(cfg.Socket), maxSocketPath)
	}
	cfg.HTTPAddr = cmp.Or(cfg.HTTPAddr, DefaultHTTPAddr)
	cfg.HTTPSAddr = cmp.Or(cfg.HTTPSAddr, DefaultHTTPSAddr)
	if cfg.HTTPAddr == "off" {
		cfg.HTTPAddr = ""
	}
	if cfg.HTTPSAddr == "off" {
		cfg.HTTPSAddr = ""
	}
	if cfg.ShimPath == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find quai's executable for the process runtime: %w", err)
		}
		cfg.ShimPath = exe
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Daemon{cfg: cfg, log: cfg.Logger, serveErr: make(chan error, 1)}, nil
}

// Config returns the configuration in effect, defaults filled in.
func (d *Daemon) Config() Config { return d.cfg }

// Socket is the API's socket path.
func (d *Daemon) Socket() string { return d.cfg.Socket }

// ID is the daemon identity of the data directory (DATA_DIR/daemon.id),
// which labels what the daemon creates on shared engines; empty before
// Start.
func (d *Daemon) ID() string { return d.id }

// ProxyHTTPAddr is the address the proxy's HTTP listener is bound to
// (resolved when the configured port was 0); empty before Start.
func (d *Daemon) ProxyHTTPAddr() string {
	if d.proxy == nil {
		return ""
	}
	return d.proxy.HTTPAddr()
}

// Start locks the data directory, opens the store, builds the runtimes, the
// proxy and the engine, re-attaches to what runs (engine.Recover) and serves
// the API. On error everything started so far is released.
func (d *Daemon) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			err = errors.Join(err, d.close(context.Background()))
		}
	}()
	if err := datadir.Prepare(d.cfg.DataDir, os.Geteuid(), d.log); err != nil {
		return err
	}
	if d.lock, err = lockDataDir(d.cfg.DataDir); err != nil {
		return err
	}
	key, err := secrets.LoadOrCreateKey(datadir.MasterKeyPath(d.cfg.DataDir), d.log)
	if err != nil {
		return err
	}
	d.keys = secrets.NewKeyring(datadir.KeysDir(d.cfg.DataDir), key, d.log.With("component", "secrets"), d.cfg.Now)
	if d.store, err = store.OpenWith(datadir.StorePath(d.cfg.DataDir), store.Options{Key: key, Logger: d.log.With("component", "store")}); err != nil {
		return fmt.Errorf("open state %s: %w", datadir.StorePath(d.cfg.DataDir), err)
	}
	if d.id, err = daemonID(d.cfg.DataDir); err != nil {
		return err
	}
	// No backup runs before this point: what is still marked running was
	// cut by a daemon that stopped, and the next run starts afresh.
	if n, err := d.store.InterruptBackupRuns(ctx, d.cfg.Now()); err != nil {
		return err
	} else if n > 0 {
		d.warnings = append(d.warnings, fmt.Sprintf("%d backup run(s) or drill(s) were cut by a daemon that stopped; they are marked interrupted and run again on schedule", n))
	}
	d.backups = &backupSettings{dataDir: d.cfg.DataDir, store: d.store, key: key}
	proc, err := process.New(process.Options{
		DataDir:  filepath.Join(d.cfg.DataDir, "process"),
		RunDir:   datadir.RunDir(d.cfg.DataDir, os.Getenv, os.Geteuid()),
		ShimPath: d.cfg.ShimPath,
		Logger:   d.log.With("runtime", "process"),
	})
	if err != nil {
		return fmt.Errorf("process runtime: %w", err)
	}
	d.runtimes = map[string]runtime.Runtime{proc.Name(): proc}
	if dk := d.startDocker(ctx); dk != nil {
		d.runtimes[dk.Name()] = dk
	}
	if !d.cfg.Kube.Off {
		kr := d.startKube()
		d.runtimes[kr.Name()] = kr
	}
	fdCur, fdMax := raiseFileLimit()
	if err := d.startProxy(ctx); err != nil {
		return err
	}
	d.log.Debug("connection budgets", "open_files", fdCur, "open_files_hard", fdMax,
		"proxy_connections", d.proxy.MaxConns(), "api_connections", apiMaxConns)
	logExposure(d.log, d.proxy.HTTPAddr(), d.proxy.HTTPSAddr())
	if d.alerts, err = d.newAlerts(key); err != nil {
		return err
	}
	opener := d.cfg.Secrets
	if opener == nil {
		opener = sealedOpener{secrets.NewOpener(d.keys)}
	}
	d.engine, err = engine.New(engine.Options{
		Secrets:        opener,
		Store:          d.store,
		Runtimes:       d.runtimes,
		DefaultRuntime: proc.Name(),
		Router:         d.proxy,
		Now:            d.cfg.Now,
		Logger:         d.log.With("component", "engine"),
		HealthTimeout:  d.cfg.HealthTimeout,
		DrainTimeout:   d.cfg.DrainTimeout,
		CrashLimit:     d.cfg.CrashLimit,
		DefaultHost:    d.cfg.DefaultHost,
		HTTPPort:       addrPort(d.proxy.HTTPAddr()),
		HTTPSPort:      addrPort(d.proxy.HTTPSAddr()),
		Backup:         d.backupOptions(),
		LastBackup:     backupAges{d.store},
		Events:         d.observe,
	})
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if err := d.startMetrics(); err != nil {
		return err
	}
	if err := d.engine.Recover(ctx); err != nil {
		return fmt.Errorf("recover instances: %w", err)
	}
	if err := d.listenRemote(ctx); err != nil {
		return err
	}
	if err := d.serve(); err != nil {
		return err
	}
	d.collector.Start()
	if err := d.alerts.Start(context.Background()); err != nil {
		return err
	}
	if !d.cfg.Backup.Off {
		d.sched = newScheduler(d.engine, d.cfg.Backup, d.log.With("component", "backup"), d.cfg.Now, backupEvents(d.log.With("component", "backup"), d.observe))
		d.sched.start()
	}
	return nil
}

func (d *Daemon) serve() error {
	// A socket file left by a daemon that died is stale: the lock proves no
	// other daemon of this data directory listens on it.
	if err := os.Remove(d.cfg.Socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(d.cfg.Socket), 0o700); err != nil {
		return fmt.Errorf("create socket directory: %w", err)
	}
	ln, err := net.Listen("unix", d.cfg.Socket)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", d.cfg.Socket, err)
	}
	// The API's own budget of connections: see apiMaxConns.
	ln = netutil.LimitListener(ln, apiMaxConns)
	d.listener = ln
	if err := os.Chmod(d.cfg.Socket, 0o600); err != nil {
		return fmt.Errorf("restrict socket: %w", err)
	}
	names := make([]string, 0, len(d.runtimes))
	for n := range d.runtimes {
		names = append(names, n)
	}
	slices.Sort(names)
	acc, err := accounts.New(d.store, accounts.Options{})
	if err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	// Config.Authn replaces the accounts' token check (tests that need one
	// fixed token); the accounts still serve users, tokens and the audit.
	var authn api.Authenticator = acc
	if d.cfg.Authn != nil {
		authn = d.cfg.Authn
	}
	if err := d.listenDashboard(); err != nil {
		return err
	}
	handler := api.New(api.Options{
		Authn:       authn,
		Accounts:    acc,
		Dashboard:   dashboardLinks{d},
		Events:      &d.feed,
		Engine:      d.engine,
		Keys:        d.keys,
		BackupAdmin: d.backupAdmin(),
		Alerts:      d.alerts,
		Metrics:     metricsAPI{d.collector},
		Logger:      d.log.With("component", "api"),
		Uploads: &uploadStore{dir: filepath.Join(d.cfg.DataDir, "uploads"), inUse: d.instanceDirs,
			log: d.log.With("component", "uploads"), now: d.cfg.Now},
		Info: wire.Info{
			Version: version.Version, Commit: version.Commit, PID: os.Getpid(),
			DataDir: d.cfg.DataDir, Socket: d.cfg.Socket,
			HTTPAddr: d.proxy.HTTPAddr(), HTTPSAddr: d.proxy.HTTPSAddr(), Runtimes: names,
			Warnings: slices.Clone(d.warnings),
			APIAddr:  d.APIAddr(), APIFingerprint: d.APIFingerprint(),
		},
	})
	d.api = handler
	base, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	srv := &http.Server{
		Handler:           api.SocketOnly(handler),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	d.server = srv
	if err := d.serveDashboard(handler, base); err != nil {
		return err
	}
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		d.serveErr <- err
	}()
	d.serveRemote(d.networkHandler(handler.RemoteHandler()), base)
	d.log.Info("quai daemon ready", "pid", os.Getpid(), "socket", d.cfg.Socket,
		"data_dir", d.cfg.DataDir, "http", d.proxy.HTTPAddr(), "https", d.proxy.HTTPSAddr())
	return nil
}

// trimDelay is how long after start (and recovery) the daemon and the
// proxy process give back their start-up pages: past the first polls of
// metrics, alerts and health.
const trimDelay = 15 * time.Second

// Run starts the daemon and serves until ctx is done (SIGTERM, SIGINT),
// then shuts down gracefully.
func (d *Daemon) Run(ctx context.Context) error {
	if err := d.Start(ctx); err != nil {
		return err
	}
	stopHUP := d.reloadOnHUP()
	defer stopHUP()
	// Once recovered and through its first polls, the daemon gives back
	// the executable's pages only start-up touched (internal/memtrim).
	go func() {
		if d.WaitRecovered(ctx) == nil {
			memtrim.Later(ctx, trimDelay, d.log)
		}
	}()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-d.serveErr:
		if serveErr != nil {
			serveErr = fmt.Errorf("api server: %w", serveErr)
		}
	}
	d.log.Info("quai daemon stopping; instances keep running")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return errors.Join(serveErr, d.Shutdown(sctx))
}

// WaitRecovered waits until the daemon has re-attached every instance it
// found at start (or ctx ends); it serves before that.
func (d *Daemon) WaitRecovered(ctx context.Context) error {
	return d.engine.WaitRecovered(ctx)
}

// Shutdown stops the API (letting running requests finish until ctx ends),
// the engine and the proxy. Replicas keep running: the next daemon
// re-attaches to them.
func (d *Daemon) Shutdown(ctx context.Context) error {
	d.shutdownOnce.Do(func() { d.shutdownErr = d.close(ctx) })
	return d.shutdownErr
}

func (d *Daemon) close(ctx context.Context) error {
	var errs []error
	if d.sched != nil {
		d.sched.stop()
		d.sched = nil
	}
	if d.alerts != nil {
		d.alerts.Close()
	}
	if d.server != nil {
		// Operations get a grace period to finish; streams that would never
		// end on their own (log follows) are cancelled after it.
		grace, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := d.server.Shutdown(grace); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			errs = append(errs, fmt.Errorf("stop api: %w", err))
		}
		cancel()
		d.cancel()
		if err := d.closeRemote(ctx); err != nil {
			errs = append(errs, err)
		}
		if err := d.closeDashboard(ctx); err != nil {
			errs = append(errs, err)
		}
		if err := d.server.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close api: %w", err))
		}
		d.server = nil
		if err := os.Remove(d.cfg.Socket); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	} else if d.listener != nil {
		_ = d.listener.Close()
	}
	if d.server == nil && d.remoteLn != nil && d.remoteSrv == nil {
		_ = d.remoteLn.Close()
	}
	if d.server == nil && d.dashSrv == nil && d.dashLn != nil {
		_ = d.dashLn.Close()
		d.dashLn = nil
	}
	if err := d.stopMetrics(ctx); err != nil {
		errs = append(errs, err)
	}
	if d.engine != nil {
		if err := d.engine.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close engine: %w", err))
		}
		d.engine = nil
	}
	if d.repos != nil {
		if err := d.repos.close(ctx); err != nil {
			errs = append(errs, err)
		}
		d.repos = nil
	}
	for name, rt := range d.runtimes {
		if err := rt.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s runtime: %w", name, err))
		}
	}
	d.runtimes = nil
	if err := d.stopProxy(ctx); err != nil {
		errs = append(errs, err)
	}
	if d.store != nil {
		if err := d.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close state: %w", err))
		}
		d.store = nil
	}
	if d.lock != nil {
		if err := d.lock.release(); err != nil {
			errs = append(errs, fmt.Errorf("release data directory lock: %w", err))
		}
		d.lock = nil
	}
	return errors.Join(errs...)
}

// addrPort is the port of a listen address, 0 when there is none.
func addrPort(addr string) int {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(port)
	return n
}

// RemoteHandler is the API as the network listener serves it: every
// request authenticated with a token and authorized by its user's roles.
func (d *Daemon) RemoteHandler() http.Handler { return d.api.RemoteHandler() }

// APIHandler is the API as the unix socket serves it (as root), without
// the socket's Host check: for benchmarks that compare it with
// RemoteHandler over the same listener.
func (d *Daemon) APIHandler() http.Handler { return d.api }

// instanceDirs lists the project directories of the installed instances:
// the uploads they use are kept.
func (d *Daemon) instanceDirs(ctx context.Context) ([]string, error) {
	list, err := d.engine.List(ctx)
	if err != nil {
		return nil, err
	}
	dirs := make([]string, 0, len(list))
	for _, in := range list {
		dirs = append(dirs, in.Dir)
	}
	return dirs, nil
}
