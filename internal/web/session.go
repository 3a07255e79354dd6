package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

// LoginCodeTTL is how long a one-time login link is valid.
const LoginCodeTTL = 2 * time.Minute

// maxSessions bounds the sessions kept; the oldest go first.
const maxSessions = 10000

// cookieName is the session cookie's name: with the __Host- prefix on TLS,
// which the browser accepts only Secure, host-only and for path /.
func cookieName(r *http.Request) string {
	if r.TLS != nil {
		return "__Host-quai_session"
	}
	return "quai_session"
}

// LoginCode returns a new one-time login code and when it expires: `quai
// dashboard` asks the daemon for one over the unix socket (only root on
// the host can) and prints the link GET /ui/login/link?code=CODE, which
// opens a session acting as the host's administrator.
func (h *Handler) LoginCode() (string, time.Time, error) {
	if h.opts.Local == nil {
		return "", time.Time{}, errors.New("this dashboard has no local administrator API")
	}
	code := randomID(24)
	exp := h.now().Add(LoginCodeTTL)
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	for c, e := range h.codes {
		if now.After(e) {
			delete(h.codes, c)
		}
	}
	h.codes[code] = exp
	return code, exp, nil
}

func (h *Handler) newSession(w http.ResponseWriter, r *http.Request, s *session) {
	s.id = randomID(32)
	s.expires = h.now().Add(h.opts.SessionTTL)
	if s.local {
		s.api = client.NewInProcess(h.opts.Local, "")
	} else {
		s.api = client.NewInProcess(h.opts.API, s.token)
	}
	h.mu.Lock()
	if len(h.sessions) >= maxSessions {
		h.expireSessionsLocked(true)
	}
	h.sessions[s.id] = s
	h.mu.Unlock()
	// Secure on TLS; the loopback listener speaks plain HTTP, where a
	// Secure cookie would not come back.
	http.SetCookie(w, &http.Cookie{Name: cookieName(r), Value: s.id, Path: "/", HttpOnly: true, //nolint:gosec // Secure on TLS, see above

		Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode, MaxAge: int(h.opts.SessionTTL / time.Second)})
}

// expireSessionsLocked drops expired sessions; with oldest also the one
// expiring first.
func (h *Handler) expireSessionsLocked(oldest bool) {
	now := h.now()
	var first *session
	for id, s := range h.sessions {
		if now.After(s.expires) {
			delete(h.sessions, id)
			continue
		}
		if first == nil || s.expires.Before(first.expires) {
			first = s
		}
	}
	if oldest && first != nil {
		delete(h.sessions, first.id)
	}
}

func (h *Handler) session(r *http.Request) *session {
	c, err := r.Cookie(cookieName(r))
	if err != nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[c.Value]
	if s == nil {
		return nil
	}
	if h.now().After(s.expires) {
		delete(h.sessions, s.id)
		return nil
	}
	s.expires = h.now().Add(h.opts.SessionTTL)
	return s
}

type sessionKey struct{}

// auth serves next to a logged-in session and sends anyone else to the
// login page (htmx requests and streams get 401).
func (h *Handler) auth(next func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := h.session(r)
		if s == nil {
			if r.Method != http.MethodGet || r.Header.Get("HX-Request") != "" || strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
				h.fail(w, r, http.StatusUnauthorized, "your session ended: log in again")
				return
			}
			http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)), s)
	}
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "login", nil, loginData{Next: safeNext(r.URL.Query().Get("next"))})
}

type loginData struct {
	Next  string
	User  string
	Error string
}

// safeNext keeps a redirect target inside the dashboard.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return Prefix
	}
	return next
}

// login takes a user and password (exchanged for a token by POST
// /api/v1/login) or a token, checks it against the API and opens a session.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, http.StatusBadRequest, "the login form could not be read")
		return
	}
	d := loginData{Next: safeNext(r.PostFormValue("next")), User: r.PostFormValue("user")}
	token := strings.TrimSpace(r.PostFormValue("token"))
	user := d.User
	if token == "" {
		if user == "" || r.PostFormValue("password") == "" {
			d.Error = "give a user name and a password, or a token"
			h.render(w, r, http.StatusBadRequest, "login", nil, d)
			return
		}
		res, err := h.passwordLogin(r.Context(), wire.LoginRequest{User: user, Password: r.PostFormValue("password"), TokenName: "dashboard",
			// The token lives no longer than a session could without use.
			TTL: h.opts.SessionTTL})
		if err != nil {
			d.Error = loginError(err)
			h.render(w, r, http.StatusUnauthorized, "login", nil, d)
			return
		}
		token, user = res.Token, res.User
	}
	who, err := h.whoAmI(r.Context(), client.NewInProcess(h.opts.API, token))
	if err != nil {
		d.Error = loginError(err)
		h.render(w, r, http.StatusUnauthorized, "login", nil, d)
		return
	}
	if who.User != "" {
		user = who.User
	}
	h.newSession(w, r, &session{token: token, user: user, grants: who.Grants})
	h.log.Info("dashboard login", "user", user, "remote", r.RemoteAddr)
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
}

func loginError(err error) string {
	var ae *client.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		return "the user name and password, or the token, were not accepted"
	}
	if errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests {
		return "too many attempts: wait a minute and try again"
	}
	return "logging in failed: " + err.Error()
}

// loginLink exchanges a one-time code for a local administrator session.
func (h *Handler) loginLink(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("code")
	h.mu.Lock()
	exp, ok := h.codes[code]
	delete(h.codes, code)
	h.mu.Unlock()
	if !ok || code == "" || h.now().After(exp) || h.opts.Local == nil {
		h.render(w, r, http.StatusUnauthorized, "login", nil, loginData{Next: Prefix,
			Error: "this login link is not valid: it was used already or has expired; run `quai dashboard` again for a new one"})
		return
	}
	h.newSession(w, r, &session{local: true, user: "root (local)"})
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName(r)); err == nil {
		h.mu.Lock()
		delete(h.sessions, c.Value)
		h.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName(r), Value: "", Path: "/", HttpOnly: true, //nolint:gosec // Secure on TLS, as in newSession

		Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// passwordLogin calls POST /api/v1/login. The typed client gains Login
// with the remote work (h/remote); until then the call is made here,
// through the same in-process transport.
func (h *Handler) passwordLogin(ctx context.Context, req wire.LoginRequest) (wire.LoginResponse, error) {
	var res wire.LoginResponse
	err := rawCall(ctx, h.opts.API, "", http.MethodPost, "/login", req, &res)
	return res, err
}

// whoAmI asks GET /api/v1/whoami who the token is. A daemon without the
// endpoint (before users and roles) answers 404: then the token is checked
// against GET /instances and the grants are unknown (every button shows;
// the API still decides).
func (h *Handler) whoAmI(ctx context.Context, c *client.Client) (wire.WhoAmI, error) {
	who, err := c.WhoAmI(ctx)
	if errors.Is(err, client.ErrNotFound) {
		_, err = c.Instances(ctx)
		return wire.WhoAmI{}, err
	}
	return who, err
}

// rawCall makes one JSON call to handler h with an optional token.
func rawCall(ctx context.Context, h http.Handler, token, method, path string, body, v any) error {
	return client.NewInProcess(h, token).CallJSON(ctx, method, path, body, v)
}
