package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/quai-dev/quai/internal/wire"
)

// EventFeed is every operation's events as the engine emits them, whoever
// started the operation (a CLI, the dashboard, a hook, the scheduler).
type EventFeed interface {
	// Subscribe calls fn with each event from now on until cancel is
	// called; fn must not block.
	Subscribe(fn wire.Emitter) (cancel func())
}

// feedBuffer is how many events a follower of GET /events may lag behind
// before the ones that do not fit are dropped (and it is told).
const feedBuffer = 1024

// handleEvents follows the events of every operation on the instances the
// caller may see, as NDJSON, until the client goes away (or for ?for=D):
// the dashboard's activity page shows deploys started from anywhere.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	if s.events == nil {
		writeError(w, &Error{Status: http.StatusNotImplemented, Code: wire.CodeUnsupported, Message: "this daemon publishes no operation events"})
		return
	}
	ctx := r.Context()
	if v := r.URL.Query().Get(wire.EventsFor); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			writeError(w, badRequest(fmt.Sprintf("%s=%q is not a duration", wire.EventsFor, v), "e.g. "+wire.EventsFor+"=30s, or none to follow until the client leaves"))
			return
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	visible, err := s.visibleFilter(r, "status")
	if err != nil {
		writeError(w, err)
		return
	}
	ch := make(chan wire.Event, feedBuffer)
	dropped := make(chan struct{}, 1)
	cancel := s.events.Subscribe(func(ev wire.Event) {
		select {
		case ch <- ev:
		default:
			select {
			case dropped <- struct{}{}:
			default:
			}
		}
	})
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", wire.ContentTypeNDJSON)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return
	}
	enc := json.NewEncoder(w)
	var refreshed time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-dropped:
			// A follower too slow for the feed learns it missed events.
			if enc.Encode(wire.Event{Time: time.Now(), Kind: wire.EventWarning, Message: "some events were dropped: this follower reads too slowly"}) != nil || rc.Flush() != nil {
				return
			}
		case ev := <-ch:
			ok := visible(ev.Instance)
			// An instance deployed after the follow began is not in the
			// filter yet: look again, at most once a second.
			if !ok && time.Since(refreshed) > time.Second {
				refreshed = time.Now()
				if f, err := s.visibleFilter(r, "status"); err == nil {
					visible, ok = f, f(ev.Instance)
				}
			}
			if !ok {
				continue
			}
			if enc.Encode(ev) != nil || rc.Flush() != nil {
				return
			}
		}
	}
}
