package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Limits on what clients may send.
const (
	maxBodyBytes = 64 << 10
	maxNameRunes = 100
	maxEmailLen  = 254 // RFC 5321 path limit
	// healthTimeout keeps /healthz fast when the database hangs, so the
	// platform's probe sees a failure instead of its own timeout.
	healthTimeout = 2 * time.Second
)

// server holds what the handlers need.
type server struct {
	db      store
	version string
	log     *slog.Logger
}

func newServer(pool *pgxpool.Pool, version string, log *slog.Logger) *server {
	return &server{db: store{pool: pool}, version: version, log: log}
}

// routes returns the API's handler, wrapped in request logging.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/users", s.listUsers)
	mux.HandleFunc("POST /api/users", s.createUser)
	mux.HandleFunc("GET /api/users/{id}", s.getUser)
	mux.HandleFunc("DELETE /api/users/{id}", s.deleteUser)
	mux.HandleFunc("GET /api/version", s.getVersion)
	mux.HandleFunc("GET /healthz", s.healthz)
	return s.logRequests(mux)
}

func (s *server) listUsers(w http.ResponseWriter, r *http.Request) {
	users, err := s.db.list(r.Context())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if users == nil {
		users = []User{}
	}
	writeJSON(w, http.StatusOK, users)
}

// newUser is the body of POST /api/users.
type newUser struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

func (s *server) createUser(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	var in newUser
	if err := dec.Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "invalid JSON body: expected a single object")
		return
	}
	name, email, err := validate(in)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	u, err := s.db.create(r.Context(), name, email)
	switch {
	case errors.Is(err, ErrDuplicateEmail):
		writeError(w, http.StatusConflict, err.Error())
		return
	case err != nil:
		s.internalError(w, r, err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/api/users/%d", u.ID))
	writeJSON(w, http.StatusCreated, u)
}

// validate trims and checks a new user, returning the values to store. Emails
// are stored lower-cased so that uniqueness ignores case.
func validate(in newUser) (name, email string, err error) {
	name = strings.TrimSpace(in.Name)
	email = strings.ToLower(strings.TrimSpace(in.Email))
	switch {
	case name == "":
		return "", "", errors.New("name is required")
	case utf8.RuneCountInString(name) > maxNameRunes:
		return "", "", fmt.Errorf("name is longer than %d characters", maxNameRunes)
	case email == "":
		return "", "", errors.New("email is required")
	case len(email) > maxEmailLen:
		return "", "", fmt.Errorf("email is longer than %d characters", maxEmailLen)
	}
	addr, perr := mail.ParseAddress(email)
	if perr != nil || addr.Address != email || !strings.Contains(email[strings.LastIndexByte(email, '@')+1:], ".") {
		return "", "", fmt.Errorf("email %q is not a valid address (expected name@example.com)", in.Email)
	}
	return name, email, nil
}

func (s *server) getUser(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	u, err := s.db.get(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case err != nil:
		s.internalError(w, r, err)
	default:
		writeJSON(w, http.StatusOK, u)
	}
}

func (s *server) deleteUser(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	err := s.db.delete(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case err != nil:
		s.internalError(w, r, err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *server) getVersion(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"version": s.version})
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	if err := s.db.ping(ctx); err != nil {
		s.log.Warn("health check failed", "error", err.Error())
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "database unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// pathID parses {id}; on failure it has already answered 400.
func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid user id %q: expected a positive integer", r.PathValue("id")))
		return 0, false
	}
	return id, true
}

// internalError logs the cause and answers 500 without leaking it.
func (s *server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
	writeError(w, http.StatusInternalServerError, "internal error")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with the API's one error shape: {"error": "..."}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// healthProbeAgent is the User-Agent of quai's health probes.
const healthProbeAgent = "quai-health"

// statusRecorder remembers the status a handler wrote, for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		// quai's health probes say who they are: the ones that pass are left
		// out of the access log (a failing one is logged, and healthz says
		// why); other health checks that pass are logged at debug.
		if r.UserAgent() == healthProbeAgent && rec.status < 400 {
			return
		}
		level := slog.LevelInfo
		if r.URL.Path == "/healthz" && rec.status == http.StatusOK {
			level = slog.LevelDebug
		}
		s.log.Log(r.Context(), level, "request",
			"method", r.Method, "path", r.URL.Path, "status", rec.status,
			"duration_ms", float64(time.Since(start).Microseconds())/1000)
	})
}
