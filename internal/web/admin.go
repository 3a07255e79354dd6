package web

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

// IsAdmin reports whether the session's grants make it an administrator of
// some organization: it shows the audit, users and tokens links. As for the
// other buttons, the API decides what the pages show and refuses the rest.
func (s *session) IsAdmin() bool {
	if s.local || s.grants == nil {
		return true
	}
	for _, g := range s.grants {
		if role, _, ok := strings.Cut(strings.TrimSpace(g), " "); ok && role == "admin" {
			return true
		}
	}
	return false
}

type auditData struct {
	Entries []wire.AuditEntry
	User    string
	Org     string
	Limit   int
}

// auditLimit is how many entries the audit page shows.
const auditLimit = 200

// auditPage lists the audit log (?user=, ?org=), newest first; the API
// answers only its administrators, and only their organizations' entries.
func (h *Handler) auditPage(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	d := auditData{User: strings.TrimSpace(q.Get("user")), Org: strings.TrimSpace(q.Get("org")), Limit: auditLimit}
	var err error
	d.Entries, err = s.api.Audit(r.Context(), client.AuditQuery{User: d.User, Org: d.Org, Limit: auditLimit})
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "audit", s, d)
}

type usersData struct {
	Users  []wire.User
	Tokens []wire.Token
	// Created is a token just made: its secret shows on this answer only.
	Created *wire.TokenCreated
	Roles   []string
}

// usersPage lists the users and the tokens the session administers, with
// the forms to add and remove them.
func (h *Handler) usersPage(w http.ResponseWriter, r *http.Request, s *session) {
	h.renderUsers(w, r, s, http.StatusOK, nil)
}

func (h *Handler) renderUsers(w http.ResponseWriter, r *http.Request, s *session, status int, created *wire.TokenCreated) {
	ctx := r.Context()
	d := usersData{Created: created, Roles: []string{"reader", "member", "admin"}}
	var err error
	if d.Users, err = s.api.Users(ctx); err != nil {
		h.apiFail(w, r, err)
		return
	}
	if d.Tokens, err = s.api.Tokens(ctx, "", true); err != nil {
		h.apiFail(w, r, err)
		return
	}
	// Revoked and expired tokens stay in the store for the audit; the page
	// lists those still usable.
	now := h.now()
	d.Tokens = slices.DeleteFunc(d.Tokens, func(t wire.Token) bool {
		return !t.Revoked.IsZero() || (!t.Expires.IsZero() && now.After(t.Expires))
	})
	h.render(w, r, status, "users", s, d)
}

func (h *Handler) addUser(w http.ResponseWriter, r *http.Request, s *session) {
	req := wire.UserRequest{Name: strings.TrimSpace(r.PostFormValue("name")), Password: r.PostFormValue("password"),
		Role: r.PostFormValue("role"), Path: strings.TrimSpace(r.PostFormValue("path"))}
	if req.Path == "" {
		req.Role = ""
	}
	if _, err := s.api.AddUser(r.Context(), req); err != nil {
		h.apiFail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ui/users", http.StatusSeeOther)
}

func (h *Handler) removeUser(w http.ResponseWriter, r *http.Request, s *session) {
	if err := s.api.RemoveUser(r.Context(), r.PathValue("user")); err != nil {
		h.apiFail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ui/users", http.StatusSeeOther)
}

// createToken makes a token and shows its secret in the answer to the
// POST, once: the page is not stored (no-store) and a reload asks to
// resubmit, which makes another token.
func (h *Handler) createToken(w http.ResponseWriter, r *http.Request, s *session) {
	req := wire.TokenRequest{Name: strings.TrimSpace(r.PostFormValue("name")), User: strings.TrimSpace(r.PostFormValue("user")),
		Path: strings.TrimSpace(r.PostFormValue("path"))}
	if ttl := strings.TrimSpace(r.PostFormValue("ttl")); ttl != "" {
		d, err := parseTTL(ttl)
		if err != nil {
			h.fail(w, r, http.StatusBadRequest, "the token's lifetime "+ttl+" is not valid: use 24h, 30d...")
			return
		}
		req.TTL = d
	}
	created, err := s.api.CreateToken(r.Context(), req)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	h.renderUsers(w, r, s, http.StatusCreated, &created)
}

// parseTTL reads a Go duration or a number of days ("30d").
func parseTTL(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		d, err := time.ParseDuration(days + "h")
		return d * 24, err
	}
	return time.ParseDuration(s)
}

func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request, s *session) {
	if err := s.api.RevokeToken(r.Context(), r.PathValue("id")); err != nil {
		h.apiFail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ui/users#tokens", http.StatusSeeOther)
}
