package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/quai-dev/quai/internal/auth"
	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// Account is a user with its grants.
type Account struct {
	Name    string
	Grants  []auth.Grant
	Created time.Time
}

// Accounts keeps users, grants, tokens, organizations, the audit log and
// deploy hooks; internal/auth/accounts implements it over the store. It
// does what it is asked: the API decides who may ask. Its errors wrap
// auth.ErrNotFound, auth.ErrExists, auth.ErrInvalid, *auth.ThrottledError
// or ErrUnauthenticated.
type Accounts interface {
	// Login checks a password (throttled per user and per source address)
	// and hands out a session token.
	Login(ctx context.Context, req wire.LoginRequest, source string) (wire.LoginResponse, error)
	Users(ctx context.Context) ([]Account, error)
	User(ctx context.Context, name string) (Account, error)
	// AddUser creates a user, with a first grant when g is not nil.
	AddUser(ctx context.Context, name, password string, g *auth.Grant) error
	// RemoveUser deletes a user with its tokens; its open streams end.
	RemoveUser(ctx context.Context, name string) error
	SetPassword(ctx context.Context, name, password string) error
	Grant(ctx context.Context, user string, g auth.Grant) error
	Revoke(ctx context.Context, user string, g auth.Grant) error
	// Tokens lists a user's tokens ("" = everyone's).
	Tokens(ctx context.Context, user string) ([]wire.Token, error)
	Token(ctx context.Context, id string) (wire.Token, error)
	CreateToken(ctx context.Context, user, name string, ttl time.Duration, scope auth.Scope) (wire.TokenCreated, error)
	// RevokeToken revokes a token; the streams it opened end.
	RevokeToken(ctx context.Context, id string) error
	Orgs(ctx context.Context) ([]string, error)
	AddOrg(ctx context.Context, name string) error
	// Record appends to the audit log.
	Record(ctx context.Context, e wire.AuditEntry) error
	// Audit reads the audit log, newest first: of orgs (nil: all), of user
	// ("" = all), since (zero: ever), at most limit (0: all).
	Audit(ctx context.Context, orgs []string, user string, since time.Time, limit int) ([]wire.AuditEntry, error)
	Hooks(ctx context.Context) ([]wire.Hook, error)
	Hook(ctx context.Context, id string) (wire.Hook, error)
	CreateHook(ctx context.Context, req wire.HookRequest, org, createdBy string) (wire.HookCreated, error)
	RemoveHook(ctx context.Context, id string) error
	// CheckHook verifies a hook call: its signature, its timestamp (within
	// five minutes), that it is not a replay, and the hook's rate limit.
	// Unknown hooks and bad signatures fail alike, with ErrUnauthenticated.
	CheckHook(ctx context.Context, id string, body []byte, signature string) (wire.Hook, wire.HookCall, error)
}

// HookEngine is what deploy hooks need of the engine beyond Engine;
// *engine.Engine implements it.
type HookEngine interface {
	ActiveModel(ctx context.Context, instance string) (*stack.Model, error)
}

var _ HookEngine = (*engine.Engine)(nil)

func (s *Server) accountRoutes() {
	p := wire.Prefix
	s.handle("POST "+p+"/login", "login", s.handleLogin)
	s.handle("GET "+p+"/whoami", "whoami", s.handleWhoAmI)
	s.handle("GET "+p+"/users", "users", s.withAccounts(s.handleUsers))
	s.handle("POST "+p+"/users", "users", s.withAccounts(s.handleAddUser))
	s.handle("DELETE "+p+"/users/{user}", "users", s.withAccounts(s.handleRemoveUser))
	s.handle("POST "+p+"/users/{user}/password", "password", s.withAccounts(s.handlePassword))
	s.handle("POST "+p+"/users/{user}/grants", "users", s.withAccounts(s.handleGrant))
	s.handle("DELETE "+p+"/users/{user}/grants", "users", s.withAccounts(s.handleGrant))
	s.handle("GET "+p+"/tokens", "tokens", s.withAccounts(s.handleTokens))
	s.handle("POST "+p+"/tokens", "tokens", s.withAccounts(s.handleCreateToken))
	s.handle("DELETE "+p+"/tokens/{id}", "tokens", s.withAccounts(s.handleRevokeToken))
	s.handle("GET "+p+"/orgs", "orgs", s.withAccounts(s.handleOrgs))
	s.handle("POST "+p+"/orgs", "orgs.add", s.withAccounts(s.handleAddOrg))
	s.handle("GET "+p+"/audit", "audit", s.withAccounts(s.handleAudit))
	s.handle("GET "+p+"/hooks", "hooks", s.withAccounts(s.handleHooks))
	s.handle("POST "+p+"/hooks", "hooks", s.withAccounts(s.handleCreateHook))
	s.handle("DELETE "+p+"/hooks/{id}", "hooks", s.withAccounts(s.handleRemoveHook))
	s.handle("POST "+p+"/hooks/{id}", "hook", s.withAccounts(s.handleHookCall))
}

func (s *Server) withAccounts(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.accounts == nil {
			writeError(w, &Error{Status: http.StatusNotImplemented, Code: wire.CodeUnsupported,
				Message: "this daemon keeps no users", Hint: "the CLI and the daemon may be different versions; restart the daemon"})
			return
		}
		h(w, r)
	}
}

// writeAuthError answers err, with Retry-After when it is a throttle.
func writeAuthError(w http.ResponseWriter, err error) {
	var te *auth.ThrottledError
	if errors.As(err, &te) {
		w.Header().Set("Retry-After", strconv.Itoa(int(max(1, te.RetryAfter.Seconds()+0.5))))
	}
	writeError(w, err)
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if s.accounts == nil {
		writeError(w, &Error{Status: http.StatusUnauthorized, Code: wire.CodeUnauthenticated, Message: "this daemon has no users yet",
			Hint: "create one on the host with `quai user add`"})
		return
	}
	var req wire.LoginRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	noteOf(r.Context()).user = req.User
	setTarget(r, "user "+req.User, "")
	out, err := s.accounts.Login(r.Context(), req, source(r))
	if err != nil {
		writeAuthError(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, out)
}

func (s *Server) handleWhoAmI(w http.ResponseWriter, r *http.Request) {
	p := auth.FromContext(r.Context())
	out := wire.WhoAmI{User: p.User, TokenName: p.TokenName, Local: p.Local, Grants: p.Describe()}
	if sc := p.Scope.String(); sc != "" {
		out.Grants = append(out.Grants, "token scope: "+sc)
	}
	writeJSON(w, out)
}

// adminOver reports whether p administers the user: the host's admins
// do; an organization's admin does when every grant of the user is in an
// organization it administers as a whole.
func adminOver(p *auth.Principal, a Account) bool {
	if p.HostAdmin() {
		return true
	}
	if len(a.Grants) == 0 {
		return false
	}
	for _, g := range a.Grants {
		if g.Org == auth.AllOrgs || !p.Can("users", auth.Target{Org: g.Org}) {
			return false
		}
	}
	return true
}

// userVisible reports whether p may know the user exists: itself, or one
// with a grant in an organization p administers.
func userVisible(p *auth.Principal, a Account) bool {
	if p.HostAdmin() || a.Name == p.User {
		return true
	}
	for _, g := range a.Grants {
		if g.Org != auth.AllOrgs && p.Can("users", auth.Target{Org: g.Org}) {
			return true
		}
	}
	return false
}

func wireUser(a Account) wire.User {
	u := wire.User{Name: a.Name, Created: a.Created, Grants: []string{}}
	for _, g := range a.Grants {
		u.Grants = append(u.Grants, g.String())
	}
	return u
}

// lookupUser returns the named user when p may see it, else the same
// not-found error as for a user that does not exist.
func (s *Server) lookupUser(r *http.Request, name string) (Account, error) {
	p := auth.FromContext(r.Context())
	a, err := s.accounts.User(r.Context(), name)
	if err == nil && !userVisible(p, a) {
		err = fmt.Errorf("user %s: %w", name, auth.ErrNotFound)
	}
	return a, err
}

func (s *Server) handleUsers(w http.ResponseWriter, r *http.Request) {
	p := auth.FromContext(r.Context())
	list, err := s.accounts.Users(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	out := []wire.User{}
	for _, a := range list {
		if userVisible(p, a) {
			out = append(out, wireUser(a))
		}
	}
	writeJSON(w, out)
}

// grantFrom reads a role and a path; it checks p may give it.
func (s *Server) grantFrom(w http.ResponseWriter, r *http.Request, role, path string) (auth.Grant, bool) {
	g, err := auth.ParsePath(path)
	if err == nil && role != "" {
		g.Role, err = auth.ParseRole(role)
	}
	if err != nil {
		writeError(w, err)
		return g, false
	}
	setTarget(r, noteOf(r.Context()).target, g.Org)
	if g.Org == auth.AllOrgs {
		return g, requireHost(w, r, "users", "grant roles over every organization")
	}
	return g, s.authorizeOrg(w, r, "users", g.Org)
}

func (s *Server) handleAddUser(w http.ResponseWriter, r *http.Request) {
	var req wire.UserRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	setTarget(r, "user "+req.Name, "")
	var grant *auth.Grant
	switch {
	case req.Path != "" || req.Role != "":
		if req.Role == "" || req.Path == "" {
			writeError(w, badRequest("a first grant needs a role and a path", "e.g. --role member --in acme/shop:dev"))
			return
		}
		g, ok := s.grantFrom(w, r, req.Role, req.Path)
		if !ok {
			return
		}
		grant = &g
	case !requireHost(w, r, "users", "add a user without a grant in an organization you administer"):
		return
	}
	if err := s.accounts.AddUser(r.Context(), req.Name, req.Password, grant); err != nil {
		writeError(w, err)
		return
	}
	a, err := s.accounts.User(r.Context(), req.Name)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, wireUser(a))
}

func (s *Server) handleRemoveUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("user")
	setTarget(r, "user "+name, "")
	a, err := s.lookupUser(r, name)
	if err != nil {
		writeError(w, err)
		return
	}
	p := auth.FromContext(r.Context())
	if len(a.Grants) > 0 {
		setTarget(r, "user "+name, a.Grants[0].Org)
	}
	if !adminOver(p, a) {
		writeError(w, forbidden(p, "users", "user "+name+" (it has grants in organizations you do not administer)"))
		return
	}
	if err := s.accounts.RemoveUser(r.Context(), name); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, struct{}{})
}

func (s *Server) handlePassword(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("user")
	setTarget(r, "user "+name, "")
	var req wire.PasswordRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	p := auth.FromContext(r.Context())
	a, err := s.lookupUser(r, name)
	if err != nil {
		writeError(w, err)
		return
	}
	if name != p.User && !adminOver(p, a) {
		writeError(w, forbidden(p, "users", "user "+name))
		return
	}
	if err := s.accounts.SetPassword(r.Context(), name, req.Password); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, struct{}{})
}

// handleGrant grants (POST) or revokes (DELETE) a role. Granting in an
// organization one administers may name any existing user (to bring a
// colleague in), so it tells that the name exists.
func (s *Server) handleGrant(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("user")
	setTarget(r, "user "+name, "")
	var req wire.GrantRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if r.Method == http.MethodPost && req.Role == "" {
		writeError(w, badRequest("name the role to grant", "admin, member or reader"))
		return
	}
	g, ok := s.grantFrom(w, r, req.Role, req.Path)
	if !ok {
		return
	}
	var err error
	if r.Method == http.MethodPost {
		err = s.accounts.Grant(r.Context(), name, g)
	} else {
		err = s.accounts.Revoke(r.Context(), name, g)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	a, err := s.accounts.User(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, wireUser(a))
}

func (s *Server) handleTokens(w http.ResponseWriter, r *http.Request) {
	p := auth.FromContext(r.Context())
	user := r.URL.Query().Get("user")
	all := r.URL.Query().Get("all") == "1"
	if user == "" && !all {
		user = p.User
	}
	if user != "" && user != p.User {
		a, err := s.lookupUser(r, user)
		if err != nil {
			writeError(w, err)
			return
		}
		if !adminOver(p, a) {
			writeError(w, forbidden(p, "users", "the tokens of "+user))
			return
		}
	}
	list, err := s.accounts.Tokens(r.Context(), user)
	if err != nil {
		writeError(w, err)
		return
	}
	if all && !p.HostAdmin() {
		users, err := s.accounts.Users(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		over := map[string]bool{p.User: true}
		for _, a := range users {
			over[a.Name] = over[a.Name] || adminOver(p, a)
		}
		list = keep(list, func(t wire.Token) bool { return over[t.User] })
	}
	if list == nil {
		list = []wire.Token{}
	}
	writeJSON(w, list)
}

func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request) {
	p := auth.FromContext(r.Context())
	var req wire.TokenRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	user := cmp.Or(req.User, p.User)
	setTarget(r, "token "+req.Name+" of "+user, "")
	if p.Local && req.User == "" {
		writeError(w, badRequest("the socket's root has no tokens", "make one for a user: quai token create NAME --user USER"))
		return
	}
	if user != p.User {
		a, err := s.lookupUser(r, user)
		if err != nil {
			writeError(w, err)
			return
		}
		if !adminOver(p, a) {
			writeError(w, forbidden(p, "users", "tokens for "+user))
			return
		}
	}
	var scope auth.Scope
	switch {
	case req.Instance != "" && req.Path != "":
		writeError(w, badRequest("narrow the token to an instance or a path, not both", ""))
		return
	case req.Instance != "":
		id, err := s.instanceIdentity(r, req.Instance)
		if err != nil {
			writeError(w, err)
			return
		}
		scope = auth.Scope{Org: id.OrgOrDefault(), Project: id.Project, Env: id.Env}
	case req.Path != "":
		g, err := auth.ParsePath(req.Path)
		if err != nil {
			writeError(w, err)
			return
		}
		if g.Org != auth.AllOrgs {
			scope = auth.Scope{Org: g.Org, Project: g.Project, Env: g.Env}
		}
	}
	if err := auth.CheckActions(req.Actions); err != nil {
		writeError(w, err)
		return
	}
	scope.Actions = req.Actions
	// A token made with a narrowed token is narrowed as much.
	if !p.Local && !p.Scope.IsZero() {
		scope = narrow(p.Scope, scope)
	}
	out, err := s.accounts.CreateToken(r.Context(), user, req.Name, req.TTL, scope)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, out)
}

// narrow returns the scope of a token made under a token of scope outer.
func narrow(outer, inner auth.Scope) auth.Scope {
	out := inner
	out.Org, out.Project, out.Env = cmp.Or(outer.Org, inner.Org), cmp.Or(outer.Project, inner.Project), cmp.Or(outer.Env, inner.Env)
	if len(outer.Actions) > 0 {
		out.Actions = outer.Actions
	}
	return out
}

// instanceIdentity resolves an instance the request's principal can read.
func (s *Server) instanceIdentity(r *http.Request, name string) (stack.Identity, error) {
	if s.dir == nil {
		return stack.Identity{}, &engine.NotFoundError{Kind: "instance", Name: name}
	}
	id, err := s.dir.Identity(r.Context(), name)
	if err != nil {
		return id, err
	}
	if auth.FromContext(r.Context()).RoleOn(targetOf(id)) < auth.RoleReader {
		return id, s.dir.NotFound(r.Context(), name)
	}
	return id, nil
}

func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	p := auth.FromContext(r.Context())
	id := r.PathValue("id")
	setTarget(r, "token "+id, "")
	t, err := s.accounts.Token(r.Context(), id)
	if err == nil && t.User != p.User {
		a, uerr := s.accounts.User(r.Context(), t.User)
		if uerr != nil || !adminOver(p, a) {
			err = fmt.Errorf("token %s: %w", id, auth.ErrNotFound)
		}
	}
	if err == nil {
		setTarget(r, "token "+t.Name+" of "+t.User, "")
		err = s.accounts.RevokeToken(r.Context(), id)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, struct{}{})
}

// allOrgs is every organization quai knows: added ones and those of
// installed instances.
func (s *Server) allOrgs(r *http.Request) ([]string, error) {
	orgs, err := s.accounts.Orgs(r.Context())
	if err != nil {
		return nil, err
	}
	orgs = append(orgs, stack.DefaultOrg)
	if s.dir != nil {
		ids, err := s.dir.Identities(context.WithoutCancel(r.Context()))
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			orgs = append(orgs, id.OrgOrDefault())
		}
	}
	slices.Sort(orgs)
	return slices.Compact(orgs), nil
}

func (s *Server) handleOrgs(w http.ResponseWriter, r *http.Request) {
	p := auth.FromContext(r.Context())
	orgs, err := s.allOrgs(r)
	if err != nil {
		writeError(w, err)
		return
	}
	out := []wire.Org{}
	for _, o := range orgs {
		if p.SeesOrg(o) {
			out = append(out, wire.Org{Name: o})
		}
	}
	writeJSON(w, out)
}

func (s *Server) handleAddOrg(w http.ResponseWriter, r *http.Request) {
	var req wire.Org
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	setTarget(r, "org "+req.Name, req.Name)
	if err := s.accounts.AddOrg(r.Context(), req.Name); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, req)
}

func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	p := auth.FromContext(r.Context())
	q := r.URL.Query()
	var since time.Time
	if v := q.Get(wire.AuditSince); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeError(w, badRequest(fmt.Sprintf("since=%q is not an RFC 3339 time", v), "e.g. 2025-01-02T15:04:05Z"))
			return
		}
		since = t
	}
	limit := 0
	if v := q.Get(wire.AuditLimit); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, badRequest(fmt.Sprintf("limit=%q is not a count", v), "e.g. limit=100"))
			return
		}
		limit = n
	}
	var orgs []string
	switch org := q.Get(wire.AuditOrg); {
	case org != "":
		if !s.authorizeOrg(w, r, "audit", org) {
			return
		}
		orgs = []string{org}
	case !p.HostAdmin():
		all, err := s.allOrgs(r)
		if err != nil {
			writeError(w, err)
			return
		}
		orgs = keep(all, func(o string) bool { return p.Can("audit", auth.Target{Org: o}) })
		if len(orgs) == 0 {
			writeError(w, forbidden(p, "audit", "any organization"))
			return
		}
	}
	list, err := s.accounts.Audit(r.Context(), orgs, q.Get(wire.AuditUser), since, limit)
	if err != nil {
		writeError(w, err)
		return
	}
	if list == nil {
		list = []wire.AuditEntry{}
	}
	writeJSON(w, list)
}

func (s *Server) handleHooks(w http.ResponseWriter, r *http.Request) {
	list, err := s.accounts.Hooks(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	visible, err := s.visibleFilter(r, "hooks")
	if err != nil {
		writeError(w, err)
		return
	}
	list = keep(list, func(h wire.Hook) bool { return visible(h.Instance) })
	if list == nil {
		list = []wire.Hook{}
	}
	writeJSON(w, list)
}

func (s *Server) handleCreateHook(w http.ResponseWriter, r *http.Request) {
	var req wire.HookRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	req.Action = cmp.Or(req.Action, "deploy")
	if req.Action != "deploy" && req.Action != "promote" {
		writeError(w, badRequest(fmt.Sprintf("a hook's action is deploy or promote, not %q", req.Action), ""))
		return
	}
	if req.Action == "promote" && req.Source == "" {
		writeError(w, badRequest("a promote hook needs the source instance", "e.g. --source shop-staging"))
		return
	}
	if req.Source != "" && !s.authorizeInstance(w, r, "releases", req.Source) {
		return
	}
	if !s.authorizeInstance(w, r, "hooks", req.Instance) {
		return
	}
	act := auth.Action("up")
	if req.Action == "promote" {
		act = "promote"
	}
	if !s.authorizeInstance(w, r, act, req.Instance) {
		return
	}
	n := noteOf(r.Context())
	out, err := s.accounts.CreateHook(r.Context(), req, n.org, auth.FromContext(r.Context()).User)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, out)
}

func (s *Server) handleRemoveHook(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	h, err := s.accounts.Hook(r.Context(), id)
	if err == nil {
		visible, verr := s.visibleFilter(r, "status")
		if verr != nil {
			writeError(w, verr)
			return
		}
		if !visible(h.Instance) {
			err = fmt.Errorf("hook %s: %w", id, auth.ErrNotFound)
		}
	}
	if err != nil {
		setTarget(r, "hook "+id, "")
		writeError(w, err)
		return
	}
	if !s.authorizeInstance(w, r, "hooks", h.Instance) {
		return
	}
	if err := s.accounts.RemoveHook(r.Context(), id); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, struct{}{})
}

// maxHookBody bounds a hook call's body: a few image references.
const maxHookBody = 64 << 10

// handleHookCall runs a CI deploy hook: the request proves itself with the
// hook's HMAC signature, then runs as a member of the hook's instance only,
// limited to the hook's action.
func (s *Server) handleHookCall(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	n := noteOf(r.Context())
	n.user = "hook " + id
	setTarget(r, "hook "+id, "")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxHookBody))
	if err != nil {
		writeError(w, badRequest("cannot read the hook call's body: "+err.Error(), "send at most 64 KiB of JSON"))
		return
	}
	h, call, err := s.accounts.CheckHook(r.Context(), id, body, r.Header.Get(wire.HookSignature))
	if err != nil {
		writeAuthError(w, err)
		return
	}
	he, ok := s.engine.(HookEngine)
	if !ok || s.dir == nil {
		writeError(w, &Error{Status: http.StatusNotImplemented, Code: wire.CodeUnsupported, Message: "this daemon cannot run deploy hooks"})
		return
	}
	// The signature proved the call; the hook's instance (and a promote
	// hook's source) are looked up as the daemon sees them.
	all := engine.WithVisibility(r.Context(), nil)
	iid, err := s.dir.Identity(all, h.Instance)
	if err != nil {
		writeError(w, err)
		return
	}
	act := auth.Action("up")
	if h.Action == "promote" {
		act = "promote"
	}
	hp := &auth.Principal{User: "hook " + h.ID, TokenName: "hook " + h.ID,
		Grants: []auth.Grant{{Org: iid.OrgOrDefault(), Project: iid.Project, Env: iid.Env, Role: auth.RoleMember}}}
	if h.Source != "" {
		sid, err := s.dir.Identity(all, h.Source)
		if err != nil {
			writeError(w, err)
			return
		}
		hp.Grants = append(hp.Grants, auth.Grant{Org: sid.OrgOrDefault(), Project: sid.Project, Env: sid.Env, Role: auth.RoleReader})
	}
	ctx := engine.WithVisibility(auth.NewContext(r.Context(), hp), func(id stack.Identity) bool { return hp.RoleOn(targetOf(id)) >= auth.RoleReader })
	if !hp.Can(act, targetOf(iid)) {
		writeError(w, forbidden(hp, act, h.Instance))
		return
	}
	setTarget(r, h.Instance, iid.OrgOrDefault())
	m, err := he.ActiveModel(ctx, h.Instance)
	if err != nil {
		writeError(w, err)
		return
	}
	var rel engine.Release
	cause := "hook " + h.ID
	switch h.Action {
	case "promote":
		rel, err = s.engine.Promote(ctx, engine.PromoteRequest{Model: m, Source: h.Source, Release: call.Release}, nil)
	default:
		if len(call.Images) == 0 {
			writeError(w, badRequest("the hook call names no image", `send {"timestamp": ..., "images": {"SERVICE": "registry/app:TAG or @sha256:..."}}`))
			return
		}
		for svc, ref := range call.Images {
			i := slices.IndexFunc(m.Services, func(sv *stack.Service) bool { return sv.Name == svc })
			if i < 0 || strings.TrimSpace(ref) == "" {
				writeError(w, badRequest(fmt.Sprintf("%s has no service %q, or its image is empty", h.Instance, svc), "name services of the instance's stack"))
				return
			}
			m.Services[i].Image = ref
		}
		rel, err = s.engine.Up(ctx, engine.UpRequest{Model: m, Cause: cause}, nil)
	}
	if err != nil {
		n.result = "failed: " + err.Error()
		writeError(w, err)
		return
	}
	n.result = fmt.Sprintf("release %d %s", rel.Number, rel.Status)
	writeJSON(w, wire.HookResult{Instance: h.Instance, Release: rel.Number, Status: string(rel.Status)})
}
