// Package web is quai's dashboard: server-rendered pages (html/template),
// a little JavaScript (vendored htmx and uPlot, and app.js), server-sent
// events for live logs and operations, all embedded in the binary.
//
// The dashboard is a client of the API and nothing else: every page and
// every action goes through the daemon's /api/v1 handler with the
// logged-in user's token, through internal/client over an in-process
// transport, so the API authenticates and authorizes each of them as it
// would a CLI's; a hidden button is a courtesy, not the security.
//
// It imports internal/client and internal/wire and the standard library;
// never the engine, the store, the runtimes or the API package (the daemon
// hands it the API as an http.Handler).
package web

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is where the dashboard is served.
const Prefix = "/ui/"

// Options configure the dashboard.
type Options struct {
	// API is the daemon's network API ((*api.Server).RemoteHandler): the
	// sessions of users who logged in with a password or a token call it
	// with their token.
	API http.Handler
	// Local is the API as the host's administrator (the handler the unix
	// socket serves). Only sessions opened with a one-time login link,
	// which only root on the host can ask for (`quai dashboard`), use it;
	// nil: login links are refused.
	Local http.Handler
	// Logger receives the dashboard's log.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// SessionTTL is how long a session lives without use; default 12h.
	SessionTTL time.Duration
	// Projects loads the stacks promotions deploy; nil: the dashboard
	// does not promote (the CLI does).
	Projects Projects
}

// Projects reads project folders on the daemon's host for promotions, as
// `quai promote DIR` reads them on a laptop: the daemon provides it, so
// that the dashboard links no stack code and stays a client of the API.
type Projects interface {
	// Target loads the stack of the folder dir for environment env of
	// organization org (the project's .env feeds it, not the daemon's
	// environment).
	Target(ctx context.Context, dir, env, org string) (Project, error)
	// Pack packs the folder dir as an upload: its hash and the gzip
	// stream; done removes what packing made.
	Pack(dir string) (hash string, gz io.Reader, done func(), err error)
}

// Project is a stack Projects loaded: its payload for the API, the
// instance it describes and its organization, and the folder it was
// loaded from.
type Project struct {
	Payload        wire.ModelPayload
	Name, Org, Dir string
}

// Handler serves the dashboard under Prefix; the daemon mounts it on its
// TLS API listener next to the API, and on the loopback listener `quai
// dashboard` opens.
type Handler struct {
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	pages  *pages
	assets *assets
	mux    *http.ServeMux
	csrf   *http.CrossOriginProtection

	mu       sync.Mutex
	sessions map[string]*session
	codes    map[string]time.Time // one-time login codes → expiry
	ops      *operations
	// opsCtx bounds the operations the dashboard started (Close ends them).
	opsCtx    context.Context
	opsCancel context.CancelFunc
}

// session is a logged-in browser: its token (or the local administrator)
// and who it is, kept server side; the cookie carries only the id.
type session struct {
	id      string
	token   string
	local   bool
	user    string
	grants  []string
	expires time.Time
	api     *client.Client
}

// New returns the dashboard handler.
func New(opts Options) (*Handler, error) {
	if opts.API == nil {
		return nil, errors.New("web: the dashboard needs the API handler")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SessionTTL == 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	a, err := newAssets(static)
	if err != nil {
		return nil, fmt.Errorf("web: static files: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Handler{opts: opts, log: opts.Logger, now: opts.Now, pages: p, assets: a,
		sessions: map[string]*session{}, codes: map[string]time.Time{},
		ops: newOperations(), opsCtx: ctx, opsCancel: cancel,
		csrf: http.NewCrossOriginProtection()}
	h.routes()
	return h, nil
}

// Close ends the operations the dashboard follows and its streams.
func (h *Handler) Close() { h.opsCancel() }

func (h *Handler) routes() {
	m := http.NewServeMux()
	m.Handle("GET /ui/static/", h.assets)
	m.HandleFunc("GET /ui/login", h.loginPage)
	m.HandleFunc("POST /ui/login", h.login)
	m.HandleFunc("GET /ui/login/link", h.loginLink)
	m.HandleFunc("POST /ui/logout", h.logout)
	m.HandleFunc("GET /ui/{$}", h.auth(h.instancesPage))
	m.HandleFunc("GET /ui/spark/{name}", h.auth(h.sparkline))
	m.HandleFunc("GET /ui/i/{name}", h.auth(h.instancePage))
	m.HandleFunc("GET /ui/i/{name}/series", h.auth(h.series))
	m.HandleFunc("GET /ui/i/{name}/logs", h.auth(h.logStream))
	m.HandleFunc("GET /ui/i/{name}/rollback", h.auth(h.rollbackConfirm))
	m.HandleFunc("POST /ui/i/{name}/rollback", h.auth(h.rollback))
	m.HandleFunc("POST /ui/i/{name}/backup", h.auth(h.backupNow))
	m.HandleFunc("POST /ui/i/{name}/drill", h.auth(h.drill))
	m.HandleFunc("GET /ui/i/{name}/restore", h.auth(h.restoreConfirm))
	m.HandleFunc("POST /ui/i/{name}/restore", h.auth(h.restore))
	m.HandleFunc("POST /ui/i/{name}/silence", h.auth(h.silence))
	m.HandleFunc("GET /ui/i/{name}/promote", h.auth(h.promoteConfirm))
	m.HandleFunc("POST /ui/i/{name}/promote", h.auth(h.promote))
	m.HandleFunc("GET /ui/audit", h.auth(h.auditPage))
	m.HandleFunc("GET /ui/users", h.auth(h.usersPage))
	m.HandleFunc("POST /ui/users", h.auth(h.addUser))
	m.HandleFunc("POST /ui/users/{user}/remove", h.auth(h.removeUser))
	m.HandleFunc("POST /ui/tokens", h.auth(h.createToken))
	m.HandleFunc("POST /ui/tokens/{id}/revoke", h.auth(h.revokeToken))
	m.HandleFunc("GET /ui/activity", h.auth(h.activityPage))
	m.HandleFunc("GET /ui/activity/events", h.auth(h.activityEvents))
	m.HandleFunc("GET /ui/ops/{id}", h.auth(h.opPage))
	m.HandleFunc("GET /ui/ops/{id}/events", h.auth(h.opEvents))
	m.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		h.notFound(w, r, "no such page")
	})
	h.mux = m
}

// ServeHTTP sets the security headers, refuses cross-origin state changes
// and dispatches.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	if r.TLS != nil {
		hd.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if r.URL.Path == "/" || r.URL.Path == "/ui" {
		http.Redirect(w, r, Prefix, http.StatusFound)
		return
	}
	if err := h.csrf.Check(r); err != nil {
		h.fail(w, r, http.StatusForbidden, "this request came from another site and was refused (cross-site request forgery protection)")
		return
	}
	h.mux.ServeHTTP(w, r)
}

// randomID returns n random bytes, base64url.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
