package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/quai-dev/quai/internal/auth"
	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// Directory tells the API which instances exist and whose they are, from
// the store alone; *engine.Engine implements it. A daemon serving the
// network needs one: without it a remote principal is refused everything
// that names an instance.
type Directory interface {
	// Identity returns an instance's identity, or the same not-found error
	// as NotFound.
	Identity(ctx context.Context, name string) (stack.Identity, error)
	// Identities returns every instance's identity by name.
	Identities(ctx context.Context) (map[string]stack.Identity, error)
	// NotFound is the error for an unknown instance name, suggesting only
	// instances visible under ctx (engine.WithVisibility).
	NotFound(ctx context.Context, name string) error
}

var _ Directory = (*engine.Engine)(nil)

// Route is one registered endpoint and the action it performs.
type Route struct {
	// Pattern is the mux pattern, "METHOD /api/v1/...".
	Pattern string
	Action  auth.Action
}

// Routes lists every registered endpoint with its action (the endpoint ×
// role tests walk it).
func (s *Server) Routes() []Route { return append([]Route(nil), s.routeList...) }

// handle registers h for pattern, guarded by the rule of action a: there
// is no way to register an endpoint without one.
func (s *Server) handle(pattern string, a auth.Action, h http.HandlerFunc) {
	s.register(pattern, a, h, true)
}

// handleModel registers h for pattern like handle, for a route whose
// target is the model its body carries, which may not be installed yet
// (a promotion into a new environment): h authorizes that model's
// identity (decodeModelRequest with the route's action), not the guard by
// the name in the path, which would answer 404 for an instance to be.
func (s *Server) handleModel(pattern string, a auth.Action, h http.HandlerFunc) {
	s.register(pattern, a, h, false)
}

func (s *Server) register(pattern string, a auth.Action, h http.HandlerFunc, byPath bool) {
	rule, ok := auth.RuleOf(a)
	if !ok {
		panic("api: route " + pattern + " names action " + string(a) + ", which has no rule in auth.Rules")
	}
	s.routeList = append(s.routeList, Route{Pattern: pattern, Action: a})
	s.mux.HandleFunc(pattern, s.guard(pattern, rule, h, byPath))
}

// note is what a request's handlers learn for its audit entry.
type note struct {
	// user replaces the principal's name (a login's user, a hook).
	user   string
	target string
	org    string
	result string
}

type noteKey struct{}

func noteOf(ctx context.Context) *note {
	if n, ok := ctx.Value(noteKey{}).(*note); ok {
		return n
	}
	return &note{}
}

// setTarget records what the request acts on, for the audit log.
func setTarget(r *http.Request, target, org string) {
	n := noteOf(r.Context())
	n.target, n.org = target, org
}

// guard authorizes a request before its handler runs, as far as the route
// tells (the host, an instance or an organization in the path), and
// audits it when its action changes something. Handlers whose target is
// in the body or query authorize it themselves (authorizeInstance...).
func (s *Server) guard(pattern string, rule auth.Rule, h http.HandlerFunc, byPath bool) http.HandlerFunc {
	hasName := byPath && strings.Contains(pattern, "{name}") && (strings.Contains(pattern, "/instances/") || strings.Contains(pattern, "/volumes/"))
	hasOrg := strings.Contains(pattern, "{org}")
	return func(w http.ResponseWriter, r *http.Request) {
		p := auth.FromContext(r.Context())
		n := &note{}
		ctx := context.WithValue(r.Context(), noteKey{}, n)
		if !p.Local {
			ctx = engine.WithVisibility(ctx, func(id stack.Identity) bool { return p.RoleOn(targetOf(id)) >= auth.RoleReader })
		}
		r = r.WithContext(ctx)
		// Every call that can change something is audited, refused or not:
		// all but reads.
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			sw := &statusWriter{ResponseWriter: w}
			w = sw
			start := time.Now()
			defer func() { s.record(r, p, rule.Action, n, sw.status, time.Since(start)) }()
		}
		switch rule.Reach {
		case auth.ReachHost:
			if !p.HostAdmin() {
				writeError(w, forbidden(p, rule.Action, "this host"))
				return
			}
		case auth.ReachSelf, auth.ReachList, auth.ReachOrg:
			if !p.ScopeAllows(rule.Action) {
				writeError(w, forbidden(p, rule.Action, "anything"))
				return
			}
		}
		if hasName && !s.authorizeInstance(w, r, rule.Action, r.PathValue("name")) {
			return
		}
		if hasOrg && !s.authorizeOrg(w, r, rule.Action, r.PathValue("org")) {
			return
		}
		h(w, r)
	}
}

func targetOf(id stack.Identity) auth.Target {
	return auth.Target{Org: id.OrgOrDefault(), Project: id.Project, Env: id.Env}
}

func forbidden(p *auth.Principal, a auth.Action, what string) *Error {
	rule, _ := auth.RuleOf(a)
	who := p.User
	if p.TokenName != "" {
		who += " (token " + p.TokenName + ")"
	}
	need := rule.Role.String()
	if rule.Reach == auth.ReachHost {
		need = "admin of every organization (*)"
	}
	return &Error{Status: http.StatusForbidden, Code: wire.CodeForbidden,
		Message: fmt.Sprintf("%s may not %s on %s", who, a, what),
		Hint:    fmt.Sprintf("%s needs the %s role (docs/teams.md); `quai whoami` shows your grants and your token's scope", a, need)}
}

// orgNotFound answers for an organization the principal cannot see,
// whether it exists or not.
func orgNotFound(org string) *Error {
	return &Error{Status: http.StatusNotFound, Code: wire.CodeNotFound,
		Message: fmt.Sprintf("organization %q not found", org), Hint: "`quai org ls` lists the organizations you can see"}
}

// authorizeInstance checks that the request's principal may do a on the
// instance name; otherwise it answers (404 exactly as for an unknown
// instance when the principal cannot see it, 403 when it can) and returns
// false.
func (s *Server) authorizeInstance(w http.ResponseWriter, r *http.Request, a auth.Action, name string) bool {
	p := auth.FromContext(r.Context())
	if p.Local {
		org := stack.DefaultOrg
		if o, _, ok := strings.Cut(name, "/"); ok {
			org = o
		}
		setTarget(r, name, org)
		return true
	}
	if s.dir == nil {
		writeError(w, &Error{Status: http.StatusNotImplemented, Code: wire.CodeUnsupported,
			Message: "this daemon cannot tell whose instances are whose", Hint: "the CLI and the daemon may be different versions; restart the daemon"})
		return false
	}
	id, err := s.dir.Identity(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return false
	}
	return s.authorizeIdentity(w, r, a, id, name)
}

// authorizeIdentity is authorizeInstance for an identity the request
// carries (a model to deploy, which may not be installed yet).
func (s *Server) authorizeIdentity(w http.ResponseWriter, r *http.Request, a auth.Action, id stack.Identity, name string) bool {
	p := auth.FromContext(r.Context())
	setTarget(r, name, id.OrgOrDefault())
	switch p.Decide(a, targetOf(id)) {
	case auth.Allowed:
		return true
	case auth.Forbidden:
		writeError(w, forbidden(p, a, name))
	default:
		if s.dir == nil {
			writeError(w, &engine.NotFoundError{Kind: "instance", Name: name})
		} else {
			writeError(w, s.dir.NotFound(r.Context(), name))
		}
	}
	return false
}

// authorizeOrgEnv checks a on an organization's environment (sealed
// secrets and their keys); env "" is the whole organization.
func (s *Server) authorizeOrgEnv(w http.ResponseWriter, r *http.Request, a auth.Action, org, env string) bool {
	p := auth.FromContext(r.Context())
	if n := noteOf(r.Context()); n.target == "" {
		n.target = strings.TrimSuffix(org+":"+env, ":")
	}
	noteOf(r.Context()).org = org
	switch p.Decide(a, auth.Target{Org: org, Env: env}) {
	case auth.Allowed:
		return true
	case auth.Forbidden:
		writeError(w, forbidden(p, a, "organization "+org))
	default:
		writeError(w, orgNotFound(org))
	}
	return false
}

// authorizeOrg checks a on a whole organization.
func (s *Server) authorizeOrg(w http.ResponseWriter, r *http.Request, a auth.Action, org string) bool {
	return s.authorizeOrgEnv(w, r, a, org, "")
}

// requireHost answers 403 unless the principal administers the host; for
// requests whose body widens them to every instance.
func requireHost(w http.ResponseWriter, r *http.Request, a auth.Action, what string) bool {
	p := auth.FromContext(r.Context())
	if p.HostAdmin() {
		return true
	}
	writeError(w, &Error{Status: http.StatusForbidden, Code: wire.CodeForbidden,
		Message: fmt.Sprintf("%s may not %s %s", p.User, a, what),
		Hint:    "name an instance, or ask an admin of every organization (*)"})
	return false
}

// visibleFilter returns a predicate over instance names: whether the
// request's principal may read them. Names it cannot resolve (instances
// since removed) count as their org's.
func (s *Server) visibleFilter(r *http.Request, a auth.Action) (func(name string) bool, error) {
	p := auth.FromContext(r.Context())
	if p.Local {
		return func(string) bool { return true }, nil
	}
	if s.dir == nil {
		return func(string) bool { return false }, nil
	}
	ids, err := s.dir.Identities(r.Context())
	if err != nil {
		return nil, err
	}
	return func(name string) bool {
		id, ok := ids[name]
		if !ok {
			return false
		}
		return p.Decide(a, targetOf(id)) == auth.Allowed
	}, nil
}

// statusWriter remembers the status a handler answered, for the audit log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController flush and hijack (exec).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// record appends the request's audit entry.
func (s *Server) record(r *http.Request, p *auth.Principal, a auth.Action, n *note, status int, d time.Duration) {
	if s.accounts == nil {
		return
	}
	if status == 0 {
		status = http.StatusSwitchingProtocols // exec took the connection over
	}
	result := n.result
	if result == "" {
		result = "ok"
		if status >= 400 {
			result = http.StatusText(status)
		}
	}
	user := p.User
	switch {
	case n.user != "":
		user = n.user
	case p.Local:
		user = "root (socket)"
	}
	e := wire.AuditEntry{
		Time: time.Now(), User: user, Token: p.TokenName, Source: source(r), Action: string(a),
		Target: n.target, Org: n.org, Status: status, Result: result, Duration: d,
	}
	// The request may be over (a client that hung up); the entry is not.
	if err := s.accounts.Record(context.WithoutCancel(r.Context()), e); err != nil {
		s.log.Error("cannot append to the audit log", "action", a, "target", n.target, "err", err)
	}
}

// source is where a request came from: the peer address, "socket" on the
// unix socket.
func source(r *http.Request) string {
	if r.RemoteAddr == "" || r.RemoteAddr == "@" {
		return "socket"
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// authError maps the errors of the accounts to HTTP.
func authError(err error) (*Error, bool) {
	var te *auth.ThrottledError
	switch {
	case errors.As(err, &te):
		return &Error{Status: http.StatusTooManyRequests, Code: wire.CodeThrottled, Message: err.Error(),
			Hint: fmt.Sprintf("retry in %s", te.RetryAfter.Round(time.Second))}, true
	case errors.Is(err, ErrUnauthenticated):
		return &Error{Status: http.StatusUnauthorized, Code: wire.CodeUnauthenticated, Message: err.Error()}, true
	case errors.Is(err, auth.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: wire.CodeNotFound, Message: err.Error(),
			Hint: "`quai user ls`, `quai token ls` and `quai hook ls` list what you can see"}, true
	case errors.Is(err, auth.ErrExists):
		return &Error{Status: http.StatusConflict, Code: wire.CodeInvalid, Message: err.Error()}, true
	case errors.Is(err, auth.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: wire.CodeInvalid, Message: err.Error()}, true
	}
	return nil, false
}

// authorizeInstanceOrHost authorizes a on the named instance, or on every
// instance (the host's business) when name is empty.
func (s *Server) authorizeInstanceOrHost(w http.ResponseWriter, r *http.Request, a auth.Action, name string) bool {
	if name == "" {
		return requireHost(w, r, a, "every instance at once")
	}
	return s.authorizeInstance(w, r, a, name)
}

// keep returns the elements of xs that f accepts (a new slice; never nil
// when xs was not).
func keep[T any](xs []T, f func(T) bool) []T {
	if xs == nil {
		return nil
	}
	out := make([]T, 0, len(xs))
	for _, x := range xs {
		if f(x) {
			out = append(out, x)
		}
	}
	return out
}
