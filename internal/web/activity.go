package web

import (
	"context"
	"errors"
	"io"
	"net/http"
)

// activityPage is the live feed of the operations on the instances the
// session may see, whoever started them (the CLI, the dashboard, a hook,
// the scheduler), with their steps as the CLI prints them.
func (h *Handler) activityPage(w http.ResponseWriter, r *http.Request, s *session) {
	h.render(w, r, http.StatusOK, "activity", s, nil)
}

// activityEvents follows GET /api/v1/events as the session and relays each
// event as an SSE "op" event; the API filters them by the session's roles.
func (h *Handler) activityEvents(w http.ResponseWriter, r *http.Request, s *session) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	evs, err := s.api.Events(ctx)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	defer func() { _ = evs.Close() }()
	rc, ok := sse(w)
	if !ok {
		return
	}
	// The comment tells the page the feed is open (EventSource's onopen
	// fires on the headers already; this confirms the API answered).
	if _, err := io.WriteString(w, ": following\n\n"); err != nil || rc.Flush() != nil {
		return
	}
	for {
		ev, err := evs.Next()
		if err != nil {
			if !errors.Is(err, context.Canceled) && ctx.Err() == nil {
				_ = writeEvent(w, rc, "end", map[string]string{"error": err.Error()})
			}
			return
		}
		if err := writeEvent(w, rc, "op", ev); err != nil {
			return
		}
	}
}
