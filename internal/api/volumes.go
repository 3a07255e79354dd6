package api

import (
	"cmp"
	"context"
	"net/http"

	"github.com/quai-dev/quai/internal/auth"
	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// Lifecycle is the engine's side of `quai start` and `quai volumes`;
// *engine.Engine implements it. A daemon whose engine does not answers
// 501, as for Backups.
type Lifecycle interface {
	Start(ctx context.Context, instance string, emit engine.Emitter) (engine.Release, error)
	Volumes(ctx context.Context, instance string) (engine.VolumeList, error)
	PurgeVolumes(ctx context.Context, instance string, emit engine.Emitter) error
}

var _ Lifecycle = (*engine.Engine)(nil)

func (s *Server) lifecycle(w http.ResponseWriter) (Lifecycle, bool) {
	l, ok := s.engine.(Lifecycle)
	if !ok {
		writeError(w, &Error{Status: http.StatusNotImplemented, Code: wire.CodeUnsupported,
			Message: "this daemon cannot start instances nor list volumes", Hint: "the CLI and the daemon may be different versions; restart the daemon"})
	}
	return l, ok
}

func (s *Server) handleStart(w http.ResponseWriter, r *http.Request) {
	l, ok := s.lifecycle(w)
	if !ok {
		return
	}
	name := r.PathValue("name")
	s.stream(w, r, name, func(emit wire.Emitter) error {
		_, err := l.Start(r.Context(), name, emit)
		return err
	})
}

func (s *Server) handleVolumes(w http.ResponseWriter, r *http.Request) {
	l, ok := s.lifecycle(w)
	if !ok {
		return
	}
	instance := r.URL.Query().Get(wire.VolumesInstance)
	if instance != "" && !s.authorizeInstance(w, r, "volumes", instance) {
		return
	}
	list, err := l.Volumes(r.Context(), instance)
	if err != nil {
		writeError(w, err)
		return
	}
	if p := auth.FromContext(r.Context()); !p.Local {
		list.Volumes = keep(list.Volumes, func(v wire.Volume) bool {
			return p.Can("volumes", auth.Target{Org: cmp.Or(v.Identity.Org, stack.DefaultOrg), Project: v.Identity.Project, Env: v.Identity.Env})
		})
	}
	writeJSON(w, list)
}

func (s *Server) handlePurgeVolumes(w http.ResponseWriter, r *http.Request) {
	l, ok := s.lifecycle(w)
	if !ok {
		return
	}
	name := r.PathValue("name")
	s.stream(w, r, name, func(emit wire.Emitter) error {
		return l.PurgeVolumes(r.Context(), name, emit)
	})
}
