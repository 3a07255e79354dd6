package api

import (
	"context"
	"net/http"

	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/wire"
)

// Backups are the engine's backup operations; *engine.Engine implements
// them. The API answers 501 when its engine does not.
type Backups interface {
	Backup(ctx context.Context, req engine.BackupRequest, emit engine.Emitter) ([]wire.BackupRun, error)
	BackupList(ctx context.Context, instance string) (wire.BackupList, error)
	RepositorySnapshots(ctx context.Context, org string) ([]wire.BackupRun, error)
	Restore(ctx context.Context, req engine.RestoreRequest, emit engine.Emitter) error
	Clone(ctx context.Context, req engine.CloneRequest, emit engine.Emitter) (engine.Release, error)
	VerifyBackups(ctx context.Context, req engine.VerifyRequest, emit engine.Emitter) ([]wire.BackupRun, error)
	PruneBackups(ctx context.Context, instance string, dryRun bool, emit engine.Emitter) ([]wire.BackupRun, error)
	ForgetBackups(ctx context.Context, instance string, emit engine.Emitter) ([]wire.BackupRun, error)
	Drill(ctx context.Context, instance string, emit engine.Emitter) (wire.Drill, error)
}

// BackupAdmin is the daemon's side of backups: where each organization's
// repository lives, its password, and copies of quai's own state.
type BackupAdmin interface {
	BackupTarget(ctx context.Context, org string) (wire.BackupTarget, error)
	SetBackupTarget(ctx context.Context, t wire.BackupTarget) error
	BackupKey(ctx context.Context, org string) (wire.BackupKey, error)
	ImportBackupKey(ctx context.Context, org string, k wire.BackupKeyImport) error
	SystemBackup(ctx context.Context, dir string) (wire.SystemBackup, error)
}

func (s *Server) backups(w http.ResponseWriter) (Backups, bool) {
	b, ok := s.engine.(Backups)
	if !ok {
		writeError(w, &Error{Status: http.StatusNotImplemented, Code: wire.CodeUnsupported,
			Message: "this daemon cannot back up", Hint: "the CLI and the daemon may be different versions; restart the daemon"})
	}
	return b, ok
}

func (s *Server) admin(w http.ResponseWriter) (BackupAdmin, bool) {
	if s.backupAdmin == nil {
		writeError(w, &Error{Status: http.StatusNotImplemented, Code: wire.CodeUnsupported,
			Message: "this daemon has no backup settings", Hint: "the CLI and the daemon may be different versions; restart the daemon"})
	}
	return s.backupAdmin, s.backupAdmin != nil
}

func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request) {
	var req wire.BackupRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	b, ok := s.backups(w)
	if !ok {
		return
	}
	name := r.PathValue("name")
	s.stream(w, r, name, func(emit wire.Emitter) error {
		_, err := b.Backup(r.Context(), engine.BackupRequest{Instance: name, Service: req.Service, Trigger: wire.TriggerManual}, emit)
		return err
	})
}

func (s *Server) handleBackupList(w http.ResponseWriter, r *http.Request) {
	b, ok := s.backups(w)
	if !ok {
		return
	}
	if org := r.URL.Query().Get("org"); org != "" {
		if !s.authorizeOrg(w, r, "backups", org) {
			return
		}
		runs, err := b.RepositorySnapshots(r.Context(), org)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, wire.BackupList{Runs: runs, Drills: []wire.Drill{}})
		return
	}
	instance := r.URL.Query().Get("instance")
	if instance != "" && !s.authorizeInstance(w, r, "backups", instance) {
		return
	}
	list, err := b.BackupList(r.Context(), instance)
	if err != nil {
		writeError(w, err)
		return
	}
	if instance == "" {
		visible, err := s.visibleFilter(r, "backups")
		if err != nil {
			writeError(w, err)
			return
		}
		list.Runs = keep(list.Runs, func(x wire.BackupRun) bool { return visible(x.Instance) })
		list.Drills = keep(list.Drills, func(x wire.Drill) bool { return visible(x.Instance) })
	}
	writeJSON(w, list)
}

func (s *Server) handleRestore(w http.ResponseWriter, r *http.Request) {
	var req wire.RestoreRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Snapshot == "" {
		writeError(w, badRequest("name the snapshot to restore", "`quai backup ls INSTANCE` lists the snapshots"))
		return
	}
	b, ok := s.backups(w)
	if !ok {
		return
	}
	name := r.PathValue("name")
	s.stream(w, r, name, func(emit wire.Emitter) error {
		return b.Restore(r.Context(), engine.RestoreRequest{Instance: name, Snapshot: req.Snapshot, Service: req.Service, Into: req.Into}, emit)
	})
}

func (s *Server) handleDrill(w http.ResponseWriter, r *http.Request) {
	b, ok := s.backups(w)
	if !ok {
		return
	}
	name := r.PathValue("name")
	s.stream(w, r, name, func(emit wire.Emitter) error {
		_, err := b.Drill(r.Context(), name, emit)
		return err
	})
}

func (s *Server) handleClone(w http.ResponseWriter, r *http.Request) {
	var req wire.CloneRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	m, err := decodeModel(req.ModelPayload)
	if err != nil {
		writeError(w, err)
		return
	}
	// Who may clone into this instance is decided before anything else
	// answers (an instance the caller cannot see is 404, whatever the body).
	if !s.authorizeIdentity(w, r, "clone", m.Identity, m.Identity.Name()) {
		return
	}
	if err := s.rebaseUpload(r.Context(), m, req.ModelPayload); err != nil {
		writeError(w, err)
		return
	}
	b, ok := s.backups(w)
	if !ok {
		return
	}
	s.stream(w, r, m.Identity.Name(), func(emit wire.Emitter) error {
		_, err := b.Clone(r.Context(), engine.CloneRequest{Model: m, Runtime: req.Runtime, Snapshots: req.Snapshots}, emit)
		return err
	})
}

func (s *Server) handleVerify(w http.ResponseWriter, r *http.Request) {
	var req wire.VerifyRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Percent < 0 || req.Percent > 100 {
		writeError(w, badRequest("percent must be between 0 and 100", "e.g. --percent 10 re-reads a tenth of the data"))
		return
	}
	if !s.authorizeInstanceOrHost(w, r, "verify", req.Instance) {
		return
	}
	b, ok := s.backups(w)
	if !ok {
		return
	}
	s.stream(w, r, req.Instance, func(emit wire.Emitter) error {
		_, err := b.VerifyBackups(r.Context(), req, emit)
		return err
	})
}

func (s *Server) handleBackupPrune(w http.ResponseWriter, r *http.Request) {
	var req wire.BackupPruneRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if !s.authorizeInstanceOrHost(w, r, "backups.prune", req.Instance) {
		return
	}
	b, ok := s.backups(w)
	if !ok {
		return
	}
	s.stream(w, r, req.Instance, func(emit wire.Emitter) error {
		_, err := b.PruneBackups(r.Context(), req.Instance, req.DryRun, emit)
		return err
	})
}

func (s *Server) handleBackupForget(w http.ResponseWriter, r *http.Request) {
	var req wire.BackupForgetRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Instance == "" {
		writeError(w, badRequest("name the instance whose backups to delete", "`quai backup ls` lists the instances with backups"))
		return
	}
	if !s.authorizeInstance(w, r, "backups.forget", req.Instance) {
		return
	}
	b, ok := s.backups(w)
	if !ok {
		return
	}
	s.stream(w, r, req.Instance, func(emit wire.Emitter) error {
		_, err := b.ForgetBackups(r.Context(), req.Instance, emit)
		return err
	})
}

func (s *Server) handleBackupTarget(w http.ResponseWriter, r *http.Request) {
	a, ok := s.admin(w)
	if !ok {
		return
	}
	t, err := a.BackupTarget(r.Context(), r.PathValue("org"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, t)
}

func (s *Server) handleSetBackupTarget(w http.ResponseWriter, r *http.Request) {
	var t wire.BackupTarget
	if err := decodeBody(w, r, &t); err != nil {
		writeError(w, err)
		return
	}
	t.Org = r.PathValue("org")
	a, ok := s.admin(w)
	if !ok {
		return
	}
	if err := a.SetBackupTarget(r.Context(), t); err != nil {
		writeError(w, err)
		return
	}
	t.SecretKey = ""
	writeJSON(w, t)
}

func (s *Server) handleBackupKey(w http.ResponseWriter, r *http.Request) {
	a, ok := s.admin(w)
	if !ok {
		return
	}
	k, err := a.BackupKey(r.Context(), r.PathValue("org"))
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, k)
}

func (s *Server) handleSystemBackup(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Dir string `json:"dir,omitempty"`
	}
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	a, ok := s.admin(w)
	if !ok {
		return
	}
	sb, err := a.SystemBackup(r.Context(), req.Dir)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, sb)
}

func (s *Server) handleImportBackupKey(w http.ResponseWriter, r *http.Request) {
	var k wire.BackupKeyImport
	if err := decodeBody(w, r, &k); err != nil {
		writeError(w, err)
		return
	}
	if k.Password == "" {
		writeError(w, badRequest("the password is empty", "pass the file `quai backup key export --out` wrote"))
		return
	}
	a, ok := s.admin(w)
	if !ok {
		return
	}
	if err := a.ImportBackupKey(r.Context(), r.PathValue("org"), k); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, struct{}{})
}
