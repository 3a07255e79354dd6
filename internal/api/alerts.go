package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/quai-dev/quai/internal/alert"
	"github.com/quai-dev/quai/internal/auth"
	"github.com/quai-dev/quai/internal/wire"
)

// Alerts is the alert evaluator; *alert.Evaluator implements it. Without
// one the /alerts routes answer 501.
type Alerts interface {
	List(history bool) wire.AlertList
	Silence(req wire.SilenceRequest) (wire.AlertSilence, error)
	Unsilence(id string) error
	Channels() []wire.AlertChannel
	AddChannel(req wire.ChannelRequest) (wire.ChannelCreated, error)
	RemoveChannel(name string) error
	TestChannel(ctx context.Context, name string) (wire.ChannelTest, error)
}

func (s *Server) alertRoutes() {
	s.handle("GET "+wire.Prefix+"/alerts", "alerts", s.withAlerts(func(a Alerts, w http.ResponseWriter, r *http.Request) {
		list := a.List(r.URL.Query().Get("history") == "1")
		visible, err := s.visibleFilter(r, "alerts")
		if err != nil {
			writeError(w, err)
			return
		}
		list.Active = keep(list.Active, func(x wire.Alert) bool { return visible(x.Instance) })
		list.History = keep(list.History, func(x wire.Alert) bool { return visible(x.Instance) })
		list.Silences = keep(list.Silences, func(x wire.AlertSilence) bool { return visible(x.Instance) })
		writeJSON(w, list)
	}))
	s.handle("POST "+wire.Prefix+"/alerts/silences", "silence", s.withAlerts(func(a Alerts, w http.ResponseWriter, r *http.Request) {
		var req wire.SilenceRequest
		if err := decodeBody(w, r, &req); err != nil {
			writeError(w, err)
			return
		}
		if !s.authorizeInstance(w, r, "silence", req.Instance) {
			return
		}
		sil, err := a.Silence(req)
		if err != nil {
			writeError(w, badRequest(err.Error(), "e.g. `quai alerts silence INSTANCE [RULE] --for 2h`"))
			return
		}
		writeJSON(w, sil)
	}))
	s.handle("DELETE "+wire.Prefix+"/alerts/silences/{id}", "silence", s.withAlerts(func(a Alerts, w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if p := auth.FromContext(r.Context()); !p.Local {
			// A silence the caller cannot see answers as one that does not exist.
			instance := silenceInstance(a, id)
			if instance == "" || !s.silenceVisible(r, instance) {
				writeError(w, alertError(fmt.Errorf("silence %s: %w", id, alert.ErrNotFound)))
				return
			}
			if !s.authorizeInstance(w, r, "silence", instance) {
				return
			}
		}
		if err := a.Unsilence(id); err != nil {
			writeError(w, alertError(err))
			return
		}
		writeJSON(w, struct{}{})
	}))
	s.handle("GET "+wire.Prefix+"/alerts/channels", "alerts.channels", s.withAlerts(func(a Alerts, w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, a.Channels())
	}))
	s.handle("POST "+wire.Prefix+"/alerts/channels", "alerts.channels", s.withAlerts(func(a Alerts, w http.ResponseWriter, r *http.Request) {
		var req wire.ChannelRequest
		if err := decodeBody(w, r, &req); err != nil {
			writeError(w, err)
			return
		}
		out, err := a.AddChannel(req)
		if err != nil {
			writeError(w, alertError(err))
			return
		}
		writeJSON(w, out)
	}))
	s.handle("DELETE "+wire.Prefix+"/alerts/channels/{name}", "alerts.channels", s.withAlerts(func(a Alerts, w http.ResponseWriter, r *http.Request) {
		if err := a.RemoveChannel(r.PathValue("name")); err != nil {
			writeError(w, alertError(err))
			return
		}
		writeJSON(w, struct{}{})
	}))
	s.handle("POST "+wire.Prefix+"/alerts/channels/{name}/test", "alerts.channels", s.withAlerts(func(a Alerts, w http.ResponseWriter, r *http.Request) {
		res, err := a.TestChannel(r.Context(), r.PathValue("name"))
		if err != nil {
			writeError(w, alertError(err))
			return
		}
		writeJSON(w, res)
	}))
}

func (s *Server) withAlerts(h func(Alerts, http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.alerts == nil {
			writeError(w, &Error{Status: http.StatusNotImplemented, Code: wire.CodeUnsupported,
				Message: "this daemon has no alerting", Hint: "the CLI and the daemon may be different versions; restart the daemon"})
			return
		}
		h(s.alerts, w, r)
	}
}

// alertError decides the status of an alerting error.
func alertError(err error) error {
	switch {
	case errors.Is(err, alert.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: wire.CodeNotFound, Message: err.Error(),
			Hint: "`quai alerts channel ls` lists the channels, `quai alerts` the silences"}
	case errors.Is(err, alert.ErrExists):
		return &Error{Status: http.StatusConflict, Code: wire.CodeInvalid, Message: err.Error()}
	case errors.Is(err, alert.ErrChannel):
		return badRequest(err.Error(), "docs/alerts.md lists the channel URLs")
	}
	return &Error{Status: http.StatusBadGateway, Code: wire.CodeUnavailable, Message: err.Error(),
		Hint: "the channel's receiver refused or could not be reached; check its URL with `quai alerts channel ls`"}
}

// silenceVisible reports whether the request's principal may read the
// silenced instance.
func (s *Server) silenceVisible(r *http.Request, instance string) bool {
	visible, err := s.visibleFilter(r, "alerts")
	return err == nil && visible(instance)
}

func silenceInstance(a Alerts, id string) string {
	for _, sil := range a.List(false).Silences {
		if sil.ID == id {
			return sil.Instance
		}
	}
	return ""
}
