package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/cli/cli/connhelper"
	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/datadir"
	"github.com/quai-dev/quai/internal/runtime"
)

// Name is the runtime's name as users type it.
const Name = "docker"

// Options configure a Runtime.
type Options struct {
	// Host is the engine's address: unix:///path, tcp://host:port (TLS from
	// DOCKER_CERT_PATH and DOCKER_TLS_VERIFY, as the docker CLI) or
	// ssh://user@host[:port] (through the ssh command and `docker system
	// dial-stdio` on the remote host). Empty means DOCKER_HOST, else the
	// local socket.
	Host string
	// Logger receives the runtime's diagnostics; default slog.Default().
	Logger *slog.Logger
	// StateDir holds what the runtime keeps on the daemon's host: the
	// record of images it pulled. Default $XDG_STATE_HOME/quai/docker
	// (~/.local/state/quai/docker).
	StateDir string
	// RunDir holds the secret files of local replicas, bind-mounted at
	// /run/secrets: memory-backed, gone at reboot, never in a backup.
	// Default datadir.RunDir(StateDir).
	RunDir string
	// PublishIP is the host address replica ports are published on and the
	// host part of Handle.Address; default 127.0.0.1.
	PublishIP string
	// Progress, when set, receives image pull and build progress, one
	// message at a time, with the service it is for.
	Progress func(service, msg string)
	// HealthInterval is how often HTTP health paths are probed; default 1s.
	HealthInterval time.Duration
	// HealthyInterval is how often a replica that is healthy and passed its
	// last probe is probed again; default 5 × HealthInterval. Probing every
	// second would write some 60 lines a minute to an app's access log.
	HealthyInterval time.Duration
	// LogMaxSize and LogKeep rotate each container's output: at LogMaxSize
	// bytes (default 10 MiB), keeping LogKeep old files (default 3). The
	// output of removed containers is kept within the same bound per
	// service (see logs.go).
	LogMaxSize int64
	LogKeep    int
	// DockerConfigDir is where registry credentials are read from (the
	// docker CLI's config.json and credential helpers); default the docker
	// CLI's own (DOCKER_CONFIG or ~/.docker).
	DockerConfigDir string
	// NetworkPool is the IPv4 range instance networks get /26 subnets from
	// once the engine's own address pools are used up; default
	// DefaultNetworkPool.
	NetworkPool string
	// DaemonID is the identity of the daemon the runtime works for (see
	// runtime.LabelDaemon): everything it creates carries it, and orphan
	// clean-up and image prune touch nothing without it. Daemons sharing an
	// engine need different ones; the same daemon needs the same one across
	// restarts. Default a random identity for this Runtime value only.
	DaemonID string
}

// Runtime runs replicas as containers on one Docker Engine.
type Runtime struct {
	cli    *client.Client
	host   string
	local  bool
	log    *slog.Logger
	opts   Options
	pubIP  string
	closed chan struct{}
	// daemonID is Options.DaemonID or the random default.
	daemonID string

	mu       sync.Mutex
	watchers map[string]*watcher // by container id
	// netMu serialises subnet allocation from Options.NetworkPool.
	netMu sync.Mutex
	// instLocks serialise network creation and removal per instance.
	instLocks map[string]*sync.Mutex
	// cpu holds the previous one-shot CPU sample per container, so that
	// Inspect reports usage between two calls without a second sample.
	cpu map[string]cpuSample
	// builds serialises builds of the same image.
	builds map[string]*sync.Mutex
	// pulledMu guards the record of pulled images on disk.
	pulledMu sync.Mutex
}

// New connects to the engine and checks that it answers. An engine that
// cannot be reached is an error wrapping runtime.ErrUnavailable that names
// the address tried and how to fix it.
func New(ctx context.Context, opts Options) (*Runtime, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = time.Second
	}
	if opts.LogMaxSize <= 0 {
		opts.LogMaxSize = 10 << 20
	}
	if opts.LogKeep <= 0 {
		opts.LogKeep = 3
	}
	if opts.HealthyInterval <= 0 {
		opts.HealthyInterval = 5 * opts.HealthInterval
	}
	if opts.NetworkPool == "" {
		opts.NetworkPool = DefaultNetworkPool
	}
	if p, err := netip.ParsePrefix(opts.NetworkPool); err != nil || !p.Addr().Is4() || p.Bits() > networkSubnetBits {
		return nil, fmt.Errorf("docker runtime: network pool %q is not an IPv4 range of /%d or larger such as %s", opts.NetworkPool, networkSubnetBits, DefaultNetworkPool)
	}
	if opts.StateDir == "" {
		dir, err := defaultStateDir()
		if err != nil {
			return nil, err
		}
		opts.StateDir = dir
	}
	sd, err := filepath.Abs(opts.StateDir)
	if err != nil {
		return nil, fmt.Errorf("docker runtime: state directory: %w", err)
	}
	opts.StateDir = sd
	if err := os.MkdirAll(sd, 0o700); err != nil {
		return nil, fmt.Errorf("docker runtime: state directory: %w", err)
	}
	if opts.RunDir == "" {
		opts.RunDir = datadir.RunDir(sd, os.Getenv, os.Geteuid())
	}
	pubIP := opts.PublishIP
	if pubIP == "" {
		pubIP = "127.0.0.1"
	}
	if net.ParseIP(pubIP) == nil {
		return nil, fmt.Errorf("docker runtime: publish address %q is not an IP address", pubIP)
	}

	host := opts.Host
	if host == "" {
		host = os.Getenv(client.EnvOverrideHost)
	}
	if host == "" {
		host = client.DefaultDockerHost
	}
	cli, local, err := newClient(host)
	if err != nil {
		return nil, fmt.Errorf("docker runtime: engine address %q: %w", host, err)
	}
	if opts.DaemonID == "" {
		opts.DaemonID = "r" + strconv.FormatUint(rand.Uint64(), 36) //nolint:gosec // a name, not a secret
	}
	r := &Runtime{
		cli: cli, host: host, local: local, log: opts.Logger, opts: opts, pubIP: pubIP, daemonID: opts.DaemonID,
		closed:    make(chan struct{}),
		watchers:  map[string]*watcher{},
		instLocks: map[string]*sync.Mutex{},
		cpu:       map[string]cpuSample{},
		builds:    map[string]*sync.Mutex{},
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		_ = cli.Close()
		return nil, r.unavailable(err)
	}
	return r, nil
}

// newClient builds an API client for host; local reports whether the engine
// shares the daemon's file system (a unix socket).
func newClient(host string) (*client.Client, bool, error) {
	u, err := url.Parse(host)
	if err != nil {
		return nil, false, err
	}
	opts := []client.Opt{client.WithTLSClientConfigFromEnv()}
	switch u.Scheme {
	case "ssh":
		helper, err := connhelper.GetConnectionHelper(host)
		if err != nil {
			return nil, false, err
		}
		// The helper's dialer runs ssh; the HTTP client must not try to
		// dial the placeholder host itself.
		hc := &http.Client{Transport: &http.Transport{DialContext: helper.Dialer}}
		opts = []client.Opt{client.WithHTTPClient(hc), client.WithHost(helper.Host), client.WithDialContext(helper.Dialer)}
	case "unix", "tcp", "npipe", "http", "https":
		opts = append(opts, client.WithHost(host))
	default:
		return nil, false, fmt.Errorf("unsupported scheme %q: use unix://, tcp:// or ssh://", u.Scheme)
	}
	cli, err := client.New(opts...)
	if err != nil {
		return nil, false, err
	}
	return cli, u.Scheme == "unix", nil
}

func defaultStateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "quai", "docker"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("docker runtime: no state directory: set Options.StateDir or HOME: %w", err)
	}
	return filepath.Join(home, ".local", "state", "quai", "docker"), nil
}

// unavailable turns a connection failure into the error users see.
func (r *Runtime) unavailable(err error) error {
	hint := "start the engine (`dockerd`, or `systemctl start docker`), or set DOCKER_HOST to a running engine"
	if !r.local {
		hint = "check that the engine at that address runs and is reachable from here (for ssh://, that `ssh` to the host works and it has the docker CLI), or set DOCKER_HOST to a running engine"
	}
	return fmt.Errorf("docker runtime: cannot reach the Docker Engine at %s: %w: %w; %s", r.host, unwrapConn(err), runtime.ErrUnavailable, hint)
}

// unwrapConn keeps the most specific cause of a connection failure, on
// one line (the ssh helper's stderr ends with a newline).
func unwrapConn(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		err = op
	}
	return oneLine{err}
}

// oneLine prints an error's message on one line and unwraps to it.
type oneLine struct{ err error }

func (e oneLine) Error() string { return strings.Join(strings.Fields(e.err.Error()), " ") }
func (e oneLine) Unwrap() error { return e.err }

// wrap classifies an engine error: a refused connection is ErrUnavailable,
// a missing object ErrNotFound.
func (r *Runtime) wrap(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case client.IsErrConnectionFailed(err):
		return fmt.Errorf("%s: %w", what, r.unavailable(err))
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("%s: %w: %w", what, err, runtime.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Name implements runtime.Runtime.
func (r *Runtime) Name() string { return Name }

// Capabilities implements runtime.Runtime.
func (r *Runtime) Capabilities() runtime.Capabilities {
	return runtime.Capabilities{Logs: true, Exec: true, Volumes: true, Limits: true, Isolation: true}
}

// Host is the engine address the runtime talks to.
func (r *Runtime) Host() string { return r.host }

// DaemonID is the daemon identity the runtime labels what it creates with.
func (r *Runtime) DaemonID() string { return r.daemonID }

// APIVersion is the Engine API version negotiated with the engine.
func (r *Runtime) APIVersion() string { return r.cli.ClientVersion() }

// Client is the underlying Engine API client, for tests and tools that need
// an engine call the runtime does not wrap.
func (r *Runtime) Client() *client.Client { return r.cli }

// Close stops the runtime's health watchers and closes the client; the
// containers keep running.
func (r *Runtime) Close() error {
	r.mu.Lock()
	select {
	case <-r.closed:
		r.mu.Unlock()
		return nil
	default:
	}
	close(r.closed)
	ws := r.watchers
	r.watchers = map[string]*watcher{}
	r.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
	return r.cli.Close()
}

func (r *Runtime) instanceLock(slug string) *sync.Mutex {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.instLocks[slug]
	if !ok {
		l = &sync.Mutex{}
		r.instLocks[slug] = l
	}
	return l
}

// progress reports to the caller's reporter (WithProgress) when the
// context carries one, else to Options.Progress.
func (r *Runtime) progress(ctx context.Context, service, format string, args ...any) {
	if fn, ok := ctx.Value(progressKey{}).(func(string)); ok && fn != nil {
		fn(fmt.Sprintf(format, args...))
		return
	}
	if r.opts.Progress != nil {
		r.opts.Progress(service, fmt.Sprintf(format, args...))
	}
}

// The runtime implements the required contract and every optional one.
// The runtime starts and stops replicas one by one.
var (
	_ runtime.ReplicaRunner = (*Runtime)(nil)
	_ runtime.Logger        = (*Runtime)(nil)
	_ runtime.Execer        = (*Runtime)(nil)
	_ runtime.VolumeManager = (*Runtime)(nil)
	_ runtime.Assessor      = (*Runtime)(nil)
)

// trimErr shortens multi-line engine messages for one-line errors.
func trimErr(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
