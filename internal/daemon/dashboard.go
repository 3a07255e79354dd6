package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/quai-dev/quai/internal/api"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/upload"
	"github.com/quai-dev/quai/internal/web"
	"github.com/quai-dev/quai/internal/wire"
)

// DashboardConfig configures the dashboard's loopback listener, which
// `quai dashboard` prints a one-time login link to.
type DashboardConfig struct {
	// Addr is a loopback address (127.0.0.1:7480, [::1]:0); empty: no
	// loopback listener. The dashboard on the network is served over TLS
	// by the API listener (quai serve --listen), never in clear here.
	Addr string
	// AnyPortIfBusy listens on any free port of Addr's host when Addr's
	// port is taken (the default address, with two daemons on a machine).
	AnyPortIfBusy bool
}

// DefaultDashboardAddr is the dashboard's default loopback address.
const DefaultDashboardAddr = "127.0.0.1:7480"

// listenDashboard opens the loopback listener, before the API is built so
// that login links know its address.
func (d *Daemon) listenDashboard() error {
	if d.cfg.Dashboard.Addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(d.cfg.Dashboard.Addr)
	if err != nil {
		return fmt.Errorf("dashboard address %q: %w; use HOST:PORT, e.g. 127.0.0.1:7480", d.cfg.Dashboard.Addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("dashboard address %q is not a loopback address: the dashboard listener serves plain HTTP for this machine only; "+
			"serve it to the network over TLS with quai serve --listen", d.cfg.Dashboard.Addr)
	}
	ln, err := net.Listen("tcp", d.cfg.Dashboard.Addr)
	if err != nil && d.cfg.Dashboard.AnyPortIfBusy {
		d.log.Warn("dashboard: the default port is taken, listening on another", "addr", d.cfg.Dashboard.Addr, "err", err)
		ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	}
	if err != nil {
		return fmt.Errorf("dashboard: listen on %s: %w (another program, or another quai daemon, uses the port: pick another with --dashboard, or --dashboard off)", d.cfg.Dashboard.Addr, err)
	}
	d.dashLn = ln
	return nil
}

// serveDashboard builds the dashboard over the API handler and serves it
// on the loopback listener.
func (d *Daemon) serveDashboard(handler *api.Server, base context.Context) error {
	w, err := web.New(web.Options{API: handler.RemoteHandler(), Local: handler, Projects: projects{}, Logger: d.log.With("component", "web")})
	if err != nil {
		return err
	}
	d.web = w
	if d.dashLn == nil {
		return nil
	}
	srv := &http.Server{
		Handler:           w,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	d.dashSrv = srv
	ln := d.dashLn
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("dashboard listener stopped", "err", err)
		}
	}()
	d.log.Info("dashboard listening", "url", "http://"+ln.Addr().String()+web.Prefix)
	return nil
}

// WebHandler is the dashboard, for the TLS API listener to mount under
// web.Prefix next to the API; nil before Start.
func (d *Daemon) WebHandler() http.Handler {
	if d.web == nil {
		return nil
	}
	return d.web
}

// DashboardAddr is the loopback listener's address, empty without one.
func (d *Daemon) DashboardAddr() string {
	if d.dashLn == nil {
		return ""
	}
	return d.dashLn.Addr().String()
}

func (d *Daemon) closeDashboard(ctx context.Context) error {
	if d.web != nil {
		d.web.Close()
	}
	if d.dashSrv != nil {
		err := d.dashSrv.Shutdown(ctx)
		d.dashSrv = nil
		d.dashLn = nil
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("stop dashboard: %w", err)
		}
		return nil
	}
	if d.dashLn != nil {
		_ = d.dashLn.Close()
		d.dashLn = nil
	}
	return nil
}

// dashboardLinks answers `quai dashboard`.
type dashboardLinks struct{ d *Daemon }

func (l dashboardLinks) LoginLink(context.Context) (wire.DashboardLink, error) {
	if l.d.web == nil || l.d.dashLn == nil {
		return wire.DashboardLink{}, &api.Error{Status: http.StatusNotImplemented, Code: wire.CodeUnsupported,
			Message: "this daemon has no dashboard listener", Hint: "restart it with quai serve --dashboard 127.0.0.1:7480"}
	}
	code, exp, err := l.d.web.LoginCode()
	if err != nil {
		return wire.DashboardLink{}, err
	}
	u := "http://" + l.d.dashLn.Addr().String() + "/ui/login/link?code=" + url.QueryEscape(code)
	return wire.DashboardLink{URL: u, Expires: exp}, nil
}

// networkHandler serves the dashboard under web.Prefix (and / redirects
// to it) next to the API on the TLS listener; the API keeps /api/v1.
func (d *Daemon) networkHandler(apiHandler http.Handler) http.Handler {
	if d.web == nil {
		return apiHandler
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "/" || p == "/ui" || strings.HasPrefix(p, web.Prefix) {
			d.web.ServeHTTP(w, r)
			return
		}
		apiHandler.ServeHTTP(w, r)
	})
}

// projects reads project folders on this host for the dashboard's
// promotions (web.Projects), as the CLI reads them.
type projects struct{}

func (projects) Target(ctx context.Context, dir, env, org string) (web.Project, error) {
	// The daemon's own environment does not feed the user's stack: only
	// the project's .env file does (a CLI would add the user's shell's).
	m, err := stack.Load(ctx, stack.Options{Dir: dir, Env: env, Org: org, Environ: map[string]string{}})
	if err != nil {
		return web.Project{}, err
	}
	p, err := wire.NewModelPayload(m, m.Resolved)
	if err != nil {
		return web.Project{}, err
	}
	return web.Project{Payload: p, Name: m.Identity.Name(), Org: m.Identity.OrgOrDefault(), Dir: m.Dir}, nil
}

func (projects) Pack(dir string) (string, io.Reader, func(), error) {
	p, err := upload.PackTemp(dir, upload.Limits{})
	if err != nil {
		return "", nil, nil, err
	}
	return p.Hash, p.File, func() { _ = p.Close() }, nil
}
