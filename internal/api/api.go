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
}

// New returns a Server for opts.
func New(opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{engine: opts.Engine, log: log, info: opts.Info, keys: opts.Keys, mux: http.NewServeMux(), backupAdmin: opts.BackupAdmin, metrics: opts.Metrics, authn: opts.Authn}
	if opts.Alerts != nil {
		s.alerts = opts.Alerts
	}
	s.routes()
	s.alertRoutes()
	return s
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET "+wire.Prefix+"/info", s.handleInfo)
	m.HandleFunc("POST "+wire.Prefix+"/plan", s.handlePlan)
	m.HandleFunc("POST "+wire.Prefix+"/up", s.handleUp)
	m.HandleFunc("GET "+wire.Prefix+"/instances", s.handleList)
	m.HandleFunc("GET "+wire.Prefix+"/instances/{name}", s.handleStatus)
	m.HandleFunc("GET "+wire.Prefix+"/instances/{name}/status", s.handleStatus)
	m.HandleFunc("DELETE "+wire.Prefix+"/instances/{name}", s.handleRemove)
	m.HandleFunc("GET "+wire.Prefix+"/instances/{name}/releases", s.handleReleases)
	m.HandleFunc("POST "+wire.Prefix+"/instances/{name}/rollback", s.handleRollback)
	m.HandleFunc("POST "+wire.Prefix+"/instances/{name}/promote", s.handlePromote)
	m.HandleFunc("POST "+wire.Prefix+"/instances/{name}/restart", s.handleRestart)
	m.HandleFunc("POST "+wire.Prefix+"/instances/{name}/down", s.handleDown)
	m.HandleFunc("POST "+wire.Prefix+"/instances/{name}/start", s.handleStart)
	m.HandleFunc("GET "+wire.Prefix+"/volumes", s.handleVolumes)
	m.HandleFunc("DELETE "+wire.Prefix+"/volumes/{name}", s.handlePurgeVolumes)
	m.HandleFunc("GET "+wire.Prefix+"/instances/{name}/logs", s.handleLogs)
	m.HandleFunc("POST "+wire.Prefix+"/instances/{name}/exec", s.handleExec)
	m.HandleFunc("POST "+wire.Prefix+"/prune", s.handlePrune)
	m.HandleFunc("GET "+wire.Prefix+"/secrets/keys", s.handleSecretKeys)
	m.HandleFunc("POST "+wire.Prefix+"/secrets/keys/export", s.handleSecretsExport)
	m.HandleFunc("POST "+wire.Prefix+"/secrets/keys/import", s.handleSecretsImport)
	m.HandleFunc("POST "+wire.Prefix+"/secrets/keys/retire", s.handleSecretsRetire)
	m.HandleFunc("POST "+wire.Prefix+"/secrets/file", s.handleSecretsFile)
	m.HandleFunc("POST "+wire.Prefix+"/instances/{name}/backup", s.handleBackup)
	m.HandleFunc("POST "+wire.Prefix+"/instances/{name}/restore", s.handleRestore)
	m.HandleFunc("POST "+wire.Prefix+"/instances/{name}/drill", s.handleDrill)
	m.HandleFunc("POST "+wire.Prefix+"/clone", s.handleClone)
	m.HandleFunc("GET "+wire.Prefix+"/backups", s.handleBackupList)
	m.HandleFunc("POST "+wire.Prefix+"/backups/verify", s.handleVerify)
	m.HandleFunc("POST "+wire.Prefix+"/backups/prune", s.handleBackupPrune)
	m.HandleFunc("POST "+wire.Prefix+"/backups/forget", s.handleBackupForget)
	m.HandleFunc("POST "+wire.Prefix+"/backups/system", s.handleSystemBackup)
	m.HandleFunc("GET "+wire.Prefix+"/backups/targets/{org}", s.handleBackupTarget)
	m.HandleFunc("PUT "+wire.Prefix+"/backups/targets/{org}", s.handleSetBackupTarget)
	m.HandleFunc("GET "+wire.Prefix+"/backups/keys/{org}", s.handleBackupKey)
	m.HandleFunc("PUT "+wire.Prefix+"/backups/keys/{org}", s.handleImportBackupKey)
	m.HandleFunc("GET "+wire.Prefix+"/metrics/top", s.handleMetricsTop)
	m.HandleFunc("GET "+wire.Prefix+"/metrics/series", s.handleMetricsSeries)
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
	s.mux.ServeHTTP(w, r)
}
