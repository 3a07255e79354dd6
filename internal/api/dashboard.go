package api

import (
	"context"
	"net/http"

	"github.com/quai-dev/quai/internal/wire"
)

// Dashboard hands out one-time login links to the dashboard (`quai
// dashboard`); the daemon wires its web handler in.
type Dashboard interface {
	// LoginLink returns a link that opens a dashboard session as the
	// host's administrator, once, within a short time.
	LoginLink(ctx context.Context) (wire.DashboardLink, error)
}

// dashboardLinkPath is served on the unix socket only (ServeHTTP), never
// by RemoteHandler: a link acts as the host's administrator, which only
// root on the host may ask for.
const dashboardLinkPath = wire.Prefix + "/dashboard/link"

func (s *Server) handleDashboardLink(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, &Error{Status: http.StatusMethodNotAllowed, Code: wire.CodeInvalid, Message: "use POST " + dashboardLinkPath})
		return
	}
	if s.dashboard == nil {
		writeError(w, &Error{Status: http.StatusNotImplemented, Code: wire.CodeUnsupported,
			Message: "this daemon serves no dashboard",
			Hint:    "start it with a dashboard listener: quai serve --dashboard 127.0.0.1:7480"})
		return
	}
	link, err := s.dashboard.LoginLink(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, link)
}
