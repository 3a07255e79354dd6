// Package api is quai's daemon HTTP+JSON API under /api/v1: handlers, the
// one JSON error shape, the NDJSON event stream of operations and the exec
// stream protocol. HTTP statuses are decided here and nowhere else.
//
// It serves the vocabulary of internal/wire, which clients import instead
// of this package. It may import the engine (its errors and the types the
// wire mirrors), the desired-state
// model (internal/stack), the runtime contract (internal/runtime) and the
// daemon's keys (internal/secrets); it
// never imports a runtime implementation, the store or the proxy: the daemon
// hands it an engine.
package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// Engine is what the API needs from the engine; *engine.Engine implements it.
type Engine interface {
	Plan(ctx context.Context, m *stack.Model, runtimeName string) (engine.Plan, error)
	Up(ctx context.Context, req engine.UpRequest, emit engine.Emitter) (engine.Release, error)
	Rollback(ctx context.Context, instance string, to int, emit engine.Emitter) (engine.Release, error)
	Promote(ctx context.Context, req engine.PromoteRequest, emit engine.Emitter) (engine.Release, error)
	Restart(ctx context.Context, instance, service string, emit engine.Emitter) error
	Down(ctx context.Context, instance string, emit engine.Emitter) error
	Remove(ctx context.Context, instance string, purge bool, emit engine.Emitter) error
	List(ctx context.Context) ([]engine.Instance, error)
	Status(ctx context.Context, instance string) (engine.InstanceStatus, error)
	Releases(ctx context.Context, instance string) ([]engine.Release, error)
	// Logs streams wire.LogLine values as JSON, one a line.
	Logs(ctx context.Context, instance string, services []string, opts runtime.LogOptions) (io.ReadCloser, error)
	Exec(ctx context.Context, instance, service string, opts runtime.ExecOptions) (int, error)
}

// Options configure a Server.
type Options struct {
	Engine Engine
	Logger *slog.Logger
	// Info is returned by GET /api/v1/info (daemon pid, version, paths).
	Info wire.Info
	// Keys serves /api/v1/secrets; nil answers 501 there.
	Keys Keyring
	// BackupAdmin holds the backup settings; nil: those routes answer 501.
	BackupAdmin BackupAdmin
	// Alerts serves /api/v1/alerts; nil answers 501 there.
	Alerts Alerts
	// Metrics serves /api/v1/metrics; nil: those routes answer 501.
	Metrics MetricsReader
	// Authn authenticates requests served by RemoteHandler (the network
	// listener); nil: the network listener answers every request with 401.
	Authn Authenticator
	// Accounts serves users, tokens, organizations, the audit log and
	// deploy hooks, and records the audit log; nil: those routes answer
	// 501 and nothing is audited.
	Accounts Accounts
	// Directory resolves instance names to identities for authorization;
	// default the engine when it implements it.
	Directory Directory
	// Uploads keeps the project folders remote clients upload; nil: those
	// routes answer 501 and models must name a directory of this machine.
	Uploads Uploads
	// Dashboard hands out the dashboard's one-time login links (unix
	// socket only); nil answers 501.
	Dashboard Dashboard
	// Events feeds GET /api/v1/events; nil answers 501 there.
	Events EventFeed
}

// Server serves the API; it is an http.Handler.
type Server struct {
	engine Engine
	log    *slog.Logger
	info   wire.Info
	keys   Keyring
	mux    *http.ServeMux

	backupAdmin BackupAdmin
	alerts      Alerts
	metrics     MetricsReader
	authn       Authenticator
	accounts    Accounts
	dir         Directory
	routeList   []Route
	uploads     Uploads
	dashboard   Dashboard
	events      EventFeed
}

// New returns a Server for opts.
func New(opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{engine: opts.Engine, log: log, info: opts.Info, keys: opts.Keys, mux: http.NewServeMux(), backupAdmin: opts.BackupAdmin, metrics: opts.Metrics, authn: opts.Authn, accounts: opts.Accounts, dir: opts.Directory, uploads: opts.Uploads, dashboard: opts.Dashboard, events: opts.Events}
	if opts.Alerts != nil {
		s.alerts = opts.Alerts
	}
	if s.dir == nil {
		s.dir, _ = opts.Engine.(Directory)
	}
	s.routes()
	s.alertRoutes()
	s.accountRoutes()
	return s
}

func (s *Server) routes() {
	m := s.mux
	s.handle("GET "+wire.Prefix+"/info", "info", s.handleInfo)
	s.handle("POST "+wire.Prefix+"/plan", "plan", s.handlePlan)
	s.handle("POST "+wire.Prefix+"/up", "up", s.handleUp)
	s.handle("GET "+wire.Prefix+"/instances", "ls", s.handleList)
	s.handle("GET "+wire.Prefix+"/events", "ls", s.handleEvents)
	s.handle("GET "+wire.Prefix+"/instances/{name}", "status", s.handleStatus)
	s.handle("GET "+wire.Prefix+"/instances/{name}/status", "status", s.handleStatus)
	s.handle("DELETE "+wire.Prefix+"/instances/{name}", "rm", s.handleRemove)
	s.handle("GET "+wire.Prefix+"/instances/{name}/releases", "releases", s.handleReleases)
	s.handle("POST "+wire.Prefix+"/instances/{name}/rollback", "rollback", s.handleRollback)
	s.handleModel("POST "+wire.Prefix+"/instances/{name}/promote", "promote", s.handlePromote)
	s.handle("POST "+wire.Prefix+"/instances/{name}/restart", "restart", s.handleRestart)
	s.handle("POST "+wire.Prefix+"/instances/{name}/down", "down", s.handleDown)
	s.handle("POST "+wire.Prefix+"/instances/{name}/start", "start", s.handleStart)
	s.handle("GET "+wire.Prefix+"/volumes", "volumes", s.handleVolumes)
	s.handle("DELETE "+wire.Prefix+"/volumes/{name}", "volumes.rm", s.handlePurgeVolumes)
	s.handle("GET "+wire.Prefix+"/instances/{name}/logs", "logs", s.handleLogs)
	s.handle("POST "+wire.Prefix+"/instances/{name}/exec", "exec", s.handleExec)
	s.handle("POST "+wire.Prefix+"/prune", "prune", s.handlePrune)
	s.handle("GET "+wire.Prefix+"/secrets/keys", "secrets.keys", s.handleSecretKeys)
	s.handle("POST "+wire.Prefix+"/secrets/keys/export", "secrets.admin", s.handleSecretsExport)
	s.handle("POST "+wire.Prefix+"/secrets/keys/import", "secrets.admin", s.handleSecretsImport)
	s.handle("POST "+wire.Prefix+"/secrets/keys/retire", "secrets.admin", s.handleSecretsRetire)
	s.handle("POST "+wire.Prefix+"/secrets/file", "secrets.set", s.handleSecretsFile)
	s.handle("POST "+wire.Prefix+"/instances/{name}/backup", "backup", s.handleBackup)
	s.handle("POST "+wire.Prefix+"/instances/{name}/restore", "restore", s.handleRestore)
	s.handle("POST "+wire.Prefix+"/instances/{name}/drill", "drill", s.handleDrill)
	s.handle("POST "+wire.Prefix+"/clone", "clone", s.handleClone)
	s.handle("GET "+wire.Prefix+"/backups", "backups", s.handleBackupList)
	s.handle("POST "+wire.Prefix+"/backups/verify", "verify", s.handleVerify)
	s.handle("POST "+wire.Prefix+"/backups/prune", "backups.prune", s.handleBackupPrune)
	s.handle("POST "+wire.Prefix+"/backups/forget", "backups.forget", s.handleBackupForget)
	s.handle("POST "+wire.Prefix+"/backups/system", "system.backup", s.handleSystemBackup)
	s.handle("GET "+wire.Prefix+"/backups/targets/{org}", "backups.settings", s.handleBackupTarget)
	s.handle("PUT "+wire.Prefix+"/backups/targets/{org}", "backups.settings", s.handleSetBackupTarget)
	s.handle("GET "+wire.Prefix+"/backups/keys/{org}", "backups.settings", s.handleBackupKey)
	s.handle("PUT "+wire.Prefix+"/backups/keys/{org}", "backups.settings", s.handleImportBackupKey)
	s.handle("GET "+wire.Prefix+"/metrics/top", "metrics", s.handleMetricsTop)
	s.handle("GET "+wire.Prefix+"/metrics/series", "metrics", s.handleMetricsSeries)
	s.handle("HEAD "+wire.Prefix+wire.UploadsPath+"/{hash}", "upload", s.handleUploadHead)
	s.handle("PUT "+wire.Prefix+wire.UploadsPath+"/{hash}", "upload", s.handleUploadPut)
	m.HandleFunc(wire.Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &Error{Status: http.StatusNotFound, Code: wire.CodeNotFound,
			Message: "no such endpoint " + r.Method + " " + r.URL.Path,
			Hint:    "the CLI and the daemon may be different versions; restart the daemon"})
	})
}

// ServeHTTP refuses browser requests (refuseBrowser), then dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e := refuseBrowser(r); e != nil {
		writeError(w, e)
		return
	}
	if !strings.HasPrefix(r.URL.Path, wire.Prefix+"/") {
		writeError(w, &Error{Status: http.StatusNotFound, Code: wire.CodeNotFound,
			Message: "no such endpoint " + r.URL.Path, Hint: "the API lives under " + wire.Prefix})
		return
	}
	if r.URL.Path == dashboardLinkPath {
		s.handleDashboardLink(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}
