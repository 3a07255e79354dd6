package web

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/quai-dev/quai/internal/client"
)

// pages are the parsed templates: each page is the layout plus its own
// file; "rows" and the other partials are also rendered alone for htmx.
type pages struct {
	byName map[string]*template.Template
}

var funcs = template.FuncMap{
	"ago":      ago,
	"bytes":    humanBytes,
	"rate":     func(f float64) string { return fmt.Sprintf("%.1f", f) },
	"percent":  func(f float64) string { return fmt.Sprintf("%.0f%%", f) },
	"stamp":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"duration": func(d time.Duration) string { return d.Round(100 * time.Millisecond).String() },
	"sortlink": sortLink,
	"join":     strings.Join,
	"list":     func(s ...string) []string { return s },
}

func parsePages() (*pages, error) {
	layout, err := fs.ReadFile(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: read layout: %w", err)
	}
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: list templates: %w", err)
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New("layout").Funcs(funcs).Parse(string(layout))
		if err != nil {
			return nil, fmt.Errorf("web: parse layout: %w", err)
		}
		if t, err = t.ParseFS(templateFS, f); err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", f, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// view is what every page's template gets.
type view struct {
	Title   string
	Session *session
	// User is who the session belongs to.
	User string
	Data any
}

// render writes page name (the layout around it) or, with partial, only
// that template of the page's file.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, s *session, data any) {
	h.renderPart(w, r, status, name, "layout", s, data)
}

func (h *Handler) renderPart(w http.ResponseWriter, r *http.Request, status int, name, part string, s *session, data any) {
	t := h.pages.byName[name]
	if t == nil {
		http.Error(w, "no template "+name, http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	title := strings.ToUpper(name[:1]) + name[1:]
	v := view{Title: title, Session: s, Data: data}
	if s != nil {
		v.User = s.user
	}
	if err := t.ExecuteTemplate(&buf, part, v); err != nil {
		h.log.Error("dashboard template", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	writeBody(w, r, status, buf.Bytes())
}

type errorData struct {
	Status  int
	Message string
}

// fail renders an error page (or, for htmx and streams, a short text).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if r.Header.Get("HX-Request") != "" || strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write([]byte(msg)) //nolint:gosec // text/plain with nosniff, never HTML

		return
	}
	s, _ := r.Context().Value(sessionKey{}).(*session)
	h.render(w, r, status, "error", s, errorData{Status: status, Message: msg})
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, msg string) {
	h.fail(w, r, http.StatusNotFound, msg)
}

// apiFail answers an API error with its status: 404 stays 404 (an
// instance the user may not see looks like one that does not exist), 401
// ends the session.
func (h *Handler) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *client.APIError
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusUnauthorized:
		if c, cerr := r.Cookie(cookieName(r)); cerr == nil {
			h.mu.Lock()
			delete(h.sessions, c.Value)
			h.mu.Unlock()
		}
		h.fail(w, r, http.StatusUnauthorized, "your session is no longer valid: log in again")
	case errors.As(err, &ae) && ae.Status < 500:
		h.fail(w, r, ae.Status, ae.Error())
	default:
		h.log.Warn("dashboard API call failed", "path", r.URL.Path, "err", err)
		h.fail(w, r, http.StatusBadGateway, "the daemon could not answer: "+err.Error())
	}
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	exp := int(math.Log(float64(n)) / math.Log(unit))
	if exp > 5 {
		exp = 5
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/math.Pow(unit, float64(exp)), "KMGTPE"[exp-1])
}
