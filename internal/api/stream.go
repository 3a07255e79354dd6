package api

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/quai-dev/quai/internal/wire"
)

// eventStream writes an operation's events as NDJSON. The status line is
// written lazily with the first event, so an operation refused before it
// emits anything (unknown instance, no such release, busy) still gets its
// proper status and the JSON error shape.
type eventStream struct {
	w        http.ResponseWriter
	rc       *http.ResponseController
	instance string

	mu       sync.Mutex
	started  bool
	ended    bool // a done or failed event was written
	closed   bool // the operation returned; late events are dropped
	enc      *json.Encoder
	writeErr error
}

func (s *eventStream) emit(ev wire.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.ended {
		return
	}
	if !s.started {
		s.started = true
		h := s.w.Header()
		h.Set("Content-Type", wire.ContentTypeNDJSON)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		s.w.WriteHeader(http.StatusOK)
		s.enc = json.NewEncoder(s.w)
	}
	s.ended = ev.Kind.Terminal()
	if s.writeErr != nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if ev.Instance == "" {
		ev.Instance = s.instance
	}
	if err := s.enc.Encode(ev); err != nil {
		s.writeErr = err
		return
	}
	if err := s.rc.Flush(); err != nil {
		s.writeErr = err
	}
}

// stream runs op, streaming its events. The engine owns the end of the
// stream: once it emitted an event it ends with exactly one done or failed
// event; refused before its first, it emits nothing and op's error is
// answered here in the JSON error shape.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, instance string, op func(wire.Emitter) error) {
	es := &eventStream{w: w, rc: http.NewResponseController(w), instance: instance}
	err := op(es.emit)
	es.mu.Lock()
	defer es.mu.Unlock()
	es.closed = true
	if n := noteOf(r.Context()); err != nil {
		n.result = "failed: " + err.Error()
	} else {
		n.result = "done"
	}
	switch {
	case err != nil && !es.started:
		s.log.Info("operation refused", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, err)
	case err != nil:
		s.log.Info("operation failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if es.started && !es.ended {
		s.log.Error("operation stream ended without a done or failed event", "method", r.Method, "path", r.URL.Path, "err", err)
	}
}
