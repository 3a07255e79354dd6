package proxyd

import (
	"errors"
	"path/filepath"
	"time"

	"github.com/quai-dev/quai/internal/proxy"
)

// Files of a proxy process in its directory (DATA_DIR/proxy).
const (
	socketName = "ctl.sock"
	lockName   = "proxy.lock"
	pidName    = "proxy.pid"
	tableName  = "routes.json"
	configName = "config.json"
	logName    = "proxy.log"
)

// SocketPath is the control socket of the proxy process of dir.
func SocketPath(dir string) string { return filepath.Join(dir, socketName) }

// LogPath is where the daemon sends the output of a proxy process it starts.
func LogPath(dir string) string { return filepath.Join(dir, logName) }

var (
	// ErrNotRunning is returned when no proxy process answers on the
	// control socket.
	ErrNotRunning = errors.New("the quai proxy process is not running")
	// ErrRunning is returned by Run when a proxy of the directory runs.
	ErrRunning = errors.New("a quai proxy process already runs for this data directory")
	// ErrStale is returned for a push older than the table the proxy has.
	ErrStale = errors.New("route table generation is older than the proxy's")
	// ErrNoConfig is returned by Run when the daemon never wrote a
	// configuration for the proxy.
	ErrNoConfig = errors.New("no proxy configuration")
)

// Settings configure a proxy process; the daemon writes them to
// DATA_DIR/proxy/config.json before it starts or adopts one, and a process
// reads them when it starts (also after an upgrade).
type Settings struct {
	// Proxy is the proxy's configuration; Logger, ACMERoots,
	// AuthResolver and the test-only ForwardAuthLoopback do not travel
	// (the process logs to its output at LogLevel).
	Proxy proxy.Config
	// LogLevel is the process's log level ("info" default).
	LogLevel string `json:",omitempty"`
	// DrainTimeout bounds how long a stopping or upgraded proxy waits for
	// in-flight requests and WebSocket tunnels (30s default).
	DrainTimeout time.Duration `json:",omitempty"`
}

// Table is the whole route table with its generation.
type Table struct {
	Generation uint64
	Routes     map[string][]proxy.Route
}

// Status describes a running proxy process.
type Status struct {
	PID        int
	Version    string
	Commit     string
	Started    time.Time
	HTTPAddr   string `json:",omitempty"`
	HTTPSAddr  string `json:",omitempty"`
	MaxConns   int
	Generation uint64
	// Upgrades counts the processes this one descends from by handoff.
	Upgrades int
}

// Stats are what the metrics collector reads of the proxy.
type Stats struct {
	Routes       []proxy.RouteStats
	OpenConns    int
	Unrouted     uint64
	Certificates []proxy.CertStatus
}

// drainRequest asks the proxy to wait for targets to be idle.
type drainRequest struct {
	Targets []string
	// Timeout bounds the wait on the proxy's side too, in case the
	// daemon goes away in the middle.
	Timeout time.Duration
}

// upgradeRequest asks the proxy to hand over to Executable.
type upgradeRequest struct {
	Executable string
}

// UpgradeResult says which process took over.
type UpgradeResult struct {
	OldPID, NewPID int
}

// errorBody is the control socket's error shape (the API's shape).
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Error codes of the control socket.
const (
	codeConflict = "conflict"
	codeInvalid  = "invalid_route"
	codeStale    = "stale"
	codeTimeout  = "drain_timeout"
	codeInternal = "internal"
	codeBadReq   = "bad_request"
	// codeHandedOver answers a push that reached a process that handed
	// over during an upgrade: the client retries on the successor.
	codeHandedOver = "handed_over"
)
