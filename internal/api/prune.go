package api

import (
	"context"
	"net/http"

	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/wire"
)

// Pruner is the engine's image clean-up; *engine.Engine implements it. The
// API answers 501 when its engine does not.
type Pruner interface {
	Prune(ctx context.Context, dryRun bool) (engine.PruneReport, error)
}

func (s *Server) handlePrune(w http.ResponseWriter, r *http.Request) {
	var req wire.PruneRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	p, ok := s.engine.(Pruner)
	if !ok {
		writeError(w, &Error{Status: http.StatusNotImplemented, Code: wire.CodeUnsupported,
			Message: "this daemon cannot prune images", Hint: "the CLI and the daemon may be different versions; restart the daemon"})
		return
	}
	rep, err := p.Prune(r.Context(), req.DryRun)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, rep)
}
