// Package accounts keeps quai's users, grants, tokens, organizations, the
// audit log and CI deploy hooks in the store, and authenticates the
// requests of the network listener: it implements api.Authenticator and
// api.Accounts. The policy (who may do what) is internal/auth's and the
// decisions are the API's; this package stores, hashes and checks
// credentials.
//
// A request's context ends when its token expires or is revoked (or its
// user removed or regranted), so an open stream (logs -f, exec) ends with
// its right to run.
//
// It may import internal/auth, internal/api (the interfaces it
// implements), internal/store, internal/stack and internal/wire.
package accounts

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/quai-dev/quai/internal/api"
	"github.com/quai-dev/quai/internal/auth"
	"github.com/quai-dev/quai/internal/store"
	"github.com/quai-dev/quai/internal/wire"
)

// Store is what the accounts keep their state in; *store.SQLite implements it.
type Store = store.AccountStore

// DefaultTTL is a token's lifetime when none is asked for.
const DefaultTTL = 30 * 24 * time.Hour

// MaxTTL bounds the lifetime of a token.
const MaxTTL = 366 * 24 * time.Hour

// HookWindow is how far a hook call's timestamp may be from now.
const HookWindow = 5 * time.Minute

// Options configure Accounts; the zero value is fine.
type Options struct {
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Argon2 are the parameters of new password hashes; default auth.DefaultArgon2.
	Argon2 auth.Argon2Params
	// Throttle slows password guessing; default auth.NewThrottle() on Now.
	Throttle *auth.Throttle
	// HookBurst and HookEvery rate-limit each hook: HookBurst calls, then
	// one more per HookEvery; default 5 and 12s.
	HookBurst int
	HookEvery time.Duration
}

// Accounts implements api.Authenticator and api.Accounts.
type Accounts struct {
	st       Store
	now      func() time.Time
	argon    auth.Argon2Params
	throttle *auth.Throttle
	// dummy is a hash checked for unknown users, so they cost what a
	// wrong password does; made at the first login, not at start (an
	// argon2id hash takes its memory parameter, 19 MiB, in the heap).
	dummy func() (string, error)

	hookBurst int
	hookEvery time.Duration

	mu sync.Mutex
	// epoch counts revocations and changes of users; a request that
	// authenticated across one checks its token again.
	epoch uint64
	// live are the contexts of running requests, by token ID, cancelled
	// when the token is revoked or its user changes.
	live map[string]map[*liveReq]struct{}
	// seen are the signatures of recent hook calls (replay protection).
	seen map[string]time.Time
	// buckets rate-limit hooks.
	buckets map[string]*bucket
}

type liveReq struct {
	user   string
	cancel context.CancelCauseFunc
}

type bucket struct {
	tokens float64
	at     time.Time
}

var (
	_ api.Authenticator = (*Accounts)(nil)
	_ api.Accounts      = (*Accounts)(nil)
)

// New returns the accounts kept in st.
func New(st Store, o Options) (*Accounts, error) {
	a := &Accounts{
		st: st, now: o.Now, argon: o.Argon2, throttle: o.Throttle,
		hookBurst: cmp.Or(o.HookBurst, 5), hookEvery: cmp.Or(o.HookEvery, 12*time.Second),
		live: map[string]map[*liveReq]struct{}{}, seen: map[string]time.Time{}, buckets: map[string]*bucket{},
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.argon == (auth.Argon2Params{}) {
		a.argon = auth.DefaultArgon2
	}
	if a.throttle == nil {
		a.throttle = auth.NewThrottle()
		a.throttle.Now = a.now
	}
	argon := a.argon
	a.dummy = sync.OnceValues(func() (string, error) {
		return auth.HashPassword("not a password of anyone", argon)
	})
	return a, nil
}

// Authenticate implements api.Authenticator: a bearer token that is known,
// not expired and not revoked. The context it returns ends at the token's
// expiry, on its revocation, and when the request ends.
func (a *Accounts) Authenticate(r *http.Request) (context.Context, error) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !auth.LooksLikeToken(token) {
		return nil, fmt.Errorf("%w: no bearer token (Authorization: Bearer quai_...)", api.ErrUnauthenticated)
	}
	ctx := r.Context()
	a.mu.Lock()
	epoch := a.epoch
	a.mu.Unlock()
	t, err := a.st.TokenByHash(ctx, auth.HashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: unknown token", api.ErrUnauthenticated)
	}
	if err != nil {
		return nil, err
	}
	now := a.now()
	switch {
	case !t.Revoked.IsZero():
		return nil, fmt.Errorf("%w: token %s was revoked", api.ErrUnauthenticated, t.Name)
	case !now.Before(t.Expires):
		return nil, fmt.Errorf("%w: token %s expired at %s", api.ErrUnauthenticated, t.Name, t.Expires.Format(time.RFC3339))
	}
	p, err := a.principal(ctx, t)
	if err != nil {
		return nil, err
	}
	if t.LastUsed.IsZero() || now.Sub(t.LastUsed) > time.Minute {
		// Once a minute is precise enough for `quai token ls` and spares a
		// write per request.
		_ = a.st.TouchToken(context.WithoutCancel(ctx), t.ID, now)
	}
	ctx, cancelDeadline := context.WithDeadlineCause(ctx, t.Expires, fmt.Errorf("%w: token %s expired", api.ErrUnauthenticated, t.Name))
	ctx, cancel := context.WithCancelCause(ctx)
	lr := &liveReq{user: t.User, cancel: cancel}
	a.mu.Lock()
	if a.live[t.ID] == nil {
		a.live[t.ID] = map[*liveReq]struct{}{}
	}
	a.live[t.ID][lr] = struct{}{}
	changed := a.epoch != epoch
	a.mu.Unlock()
	context.AfterFunc(ctx, func() {
		a.mu.Lock()
		delete(a.live[t.ID], lr)
		if len(a.live[t.ID]) == 0 {
			delete(a.live, t.ID)
		}
		a.mu.Unlock()
		cancelDeadline()
	})
	// A token revoked (or a user changed) between the lookup and the
	// registration is checked again; the change did not see this request.
	if changed {
		t2, err := a.st.Token(ctx, t.ID)
		if err != nil || !t2.Revoked.IsZero() {
			cancel(fmt.Errorf("%w: token %s was revoked", api.ErrUnauthenticated, t.Name))
		} else if p, err = a.principal(ctx, t2); err != nil {
			cancel(err)
		}
	}
	return auth.NewContext(ctx, p), nil
}

func (a *Accounts) principal(ctx context.Context, t store.Token) (*auth.Principal, error) {
	grants, err := a.grants(ctx, t.User)
	if err != nil {
		return nil, err
	}
	var scope auth.Scope
	if t.Scope != "" {
		if err := json.Unmarshal([]byte(t.Scope), &scope); err != nil {
			return nil, fmt.Errorf("token %s: read its scope: %w", t.ID, err)
		}
	}
	return &auth.Principal{User: t.User, TokenID: t.ID, TokenName: t.Name, Grants: grants, Scope: scope, Expires: t.Expires}, nil
}

func (a *Accounts) grants(ctx context.Context, user string) ([]auth.Grant, error) {
	gs, err := a.st.Grants(ctx, user)
	if err != nil {
		return nil, err
	}
	out := make([]auth.Grant, 0, len(gs))
	for _, g := range gs {
		role, err := auth.ParseRole(g.Role)
		if err != nil {
			return nil, fmt.Errorf("grant of %s in %s: %w", user, g.Org, err)
		}
		out = append(out, auth.Grant{Org: g.Org, Project: g.Project, Env: g.Env, Role: role})
	}
	return out, nil
}

// end cancels the running requests of a token ("" = every token of user).
func (a *Accounts) end(tokenID, user string, why error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.epoch++
	for id, reqs := range a.live {
		for lr := range reqs {
			if id == tokenID || (tokenID == "" && lr.user == user) {
				lr.cancel(why)
			}
		}
	}
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{0,63}$`)

func checkName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: %s name %q: use 1 to 64 lowercase letters, digits, '.', '_', '@' or '-'", auth.ErrInvalid, kind, name)
	}
	return nil
}

func notFound(err error, what string) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s: %w", what, auth.ErrNotFound)
	}
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%s: %w", what, auth.ErrExists)
	}
	return err
}

// Login implements api.Accounts.
func (a *Accounts) Login(ctx context.Context, req wire.LoginRequest, source string) (wire.LoginResponse, error) {
	userKey, srcKey := "user:"+req.User, "addr:"+source
	if wait := a.throttle.Wait(userKey, srcKey); wait > 0 {
		return wire.LoginResponse{}, &auth.ThrottledError{What: "logging in as " + req.User + " from " + source, RetryAfter: wait}
	}
	u, err := a.st.User(ctx, req.User)
	known, hash := err == nil, u.Password
	if !known {
		if !errors.Is(err, store.ErrNotFound) {
			return wire.LoginResponse{}, err
		}
		// An unknown user costs what a wrong password does.
		if hash, err = a.dummy(); err != nil {
			return wire.LoginResponse{}, err
		}
	}
	if !auth.CheckPassword(hash, req.Password) || !known {
		a.throttle.Fail(userKey, srcKey)
		return wire.LoginResponse{}, fmt.Errorf("%w: wrong user name or password", api.ErrUnauthenticated)
	}
	a.throttle.Succeed(userKey)
	ttl := req.TTL
	if ttl <= 0 {
		ttl = 7 * 24 * time.Hour
	}
	tc, err := a.createToken(ctx, req.User, cmp.Or(req.TokenName, "login from "+source), ttl, auth.Scope{}, auth.KindSession)
	if err != nil {
		return wire.LoginResponse{}, err
	}
	return wire.LoginResponse{Token: tc.Secret, User: req.User, ExpiresAt: tc.Expires}, nil
}

// Users implements api.Accounts.
func (a *Accounts) Users(ctx context.Context) ([]api.Account, error) {
	us, err := a.st.Users(ctx)
	if err != nil {
		return nil, err
	}
	all, err := a.st.Grants(ctx, "")
	if err != nil {
		return nil, err
	}
	by := map[string][]auth.Grant{}
	for _, g := range all {
		role, _ := auth.ParseRole(g.Role)
		by[g.User] = append(by[g.User], auth.Grant{Org: g.Org, Project: g.Project, Env: g.Env, Role: role})
	}
	out := make([]api.Account, 0, len(us))
	for _, u := range us {
		out = append(out, api.Account{Name: u.Name, Grants: by[u.Name], Created: u.Created})
	}
	return out, nil
}

// User implements api.Accounts.
func (a *Accounts) User(ctx context.Context, name string) (api.Account, error) {
	u, err := a.st.User(ctx, name)
	if err != nil {
		return api.Account{}, notFound(err, "user "+name)
	}
	gs, err := a.grants(ctx, name)
	return api.Account{Name: u.Name, Grants: gs, Created: u.Created}, err
}

// AddUser implements api.Accounts.
func (a *Accounts) AddUser(ctx context.Context, name, password string, g *auth.Grant) error {
	if err := checkName("user", name); err != nil {
		return err
	}
	hash, err := auth.HashPassword(password, a.argon)
	if err != nil {
		return err
	}
	if err := a.st.PutUser(ctx, store.User{Name: name, Password: hash}); err != nil {
		return notFound(err, "user "+name)
	}
	if g != nil {
		return a.Grant(ctx, name, *g)
	}
	return nil
}

// RemoveUser implements api.Accounts.
func (a *Accounts) RemoveUser(ctx context.Context, name string) error {
	if err := a.st.DeleteUser(ctx, name); err != nil {
		return notFound(err, "user "+name)
	}
	a.end("", name, fmt.Errorf("%w: user %s was removed", api.ErrUnauthenticated, name))
	return nil
}

// SetPassword implements api.Accounts.
func (a *Accounts) SetPassword(ctx context.Context, name, password string) error {
	hash, err := auth.HashPassword(password, a.argon)
	if err != nil {
		return err
	}
	return notFound(a.st.SetPassword(ctx, name, hash), "user "+name)
}

// Grant implements api.Accounts.
func (a *Accounts) Grant(ctx context.Context, user string, g auth.Grant) error {
	if g.Role == auth.RoleNone {
		return fmt.Errorf("%w: a grant needs a role", auth.ErrInvalid)
	}
	err := a.st.PutGrant(ctx, store.Grant{User: user, Org: g.Org, Project: g.Project, Env: g.Env, Role: g.Role.String()})
	if err != nil {
		return notFound(err, "user "+user)
	}
	// Requests running with the old grants end; new ones get the new.
	a.end("", user, fmt.Errorf("%w: the grants of %s changed", api.ErrUnauthenticated, user))
	return nil
}

// Revoke implements api.Accounts.
func (a *Accounts) Revoke(ctx context.Context, user string, g auth.Grant) error {
	if err := a.st.DeleteGrant(ctx, store.Grant{User: user, Org: g.Org, Project: g.Project, Env: g.Env}); err != nil {
		return notFound(err, fmt.Sprintf("a grant of %s on %s", user, g.Path()))
	}
	a.end("", user, fmt.Errorf("%w: the grants of %s changed", api.ErrUnauthenticated, user))
	return nil
}

func wireToken(t store.Token) wire.Token {
	var sc auth.Scope
	_ = json.Unmarshal([]byte(t.Scope), &sc)
	return wire.Token{ID: t.ID, Name: t.Name, User: t.User, Kind: t.Kind, Last4: t.Last4, Scope: sc.String(),
		Created: t.Created, Expires: t.Expires, LastUsed: t.LastUsed, Revoked: t.Revoked}
}

// Tokens implements api.Accounts.
func (a *Accounts) Tokens(ctx context.Context, user string) ([]wire.Token, error) {
	ts, err := a.st.Tokens(ctx, user)
	if err != nil {
		return nil, err
	}
	out := make([]wire.Token, 0, len(ts))
	for _, t := range ts {
		out = append(out, wireToken(t))
	}
	return out, nil
}

// Token implements api.Accounts.
func (a *Accounts) Token(ctx context.Context, id string) (wire.Token, error) {
	t, err := a.st.Token(ctx, id)
	if err != nil {
		return wire.Token{}, notFound(err, "token "+id)
	}
	return wireToken(t), nil
}

// CreateToken implements api.Accounts.
func (a *Accounts) CreateToken(ctx context.Context, user, name string, ttl time.Duration, scope auth.Scope) (wire.TokenCreated, error) {
	if _, err := a.st.User(ctx, user); err != nil {
		return wire.TokenCreated{}, notFound(err, "user "+user)
	}
	return a.createToken(ctx, user, name, ttl, scope, auth.KindPersonal)
}

func (a *Accounts) createToken(ctx context.Context, user, name string, ttl time.Duration, scope auth.Scope, kind string) (wire.TokenCreated, error) {
	if strings.TrimSpace(name) == "" || len(name) > 100 {
		return wire.TokenCreated{}, fmt.Errorf("%w: a token needs a name of at most 100 characters (e.g. \"ci deploy shop\")", auth.ErrInvalid)
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if ttl > MaxTTL {
		return wire.TokenCreated{}, fmt.Errorf("%w: a token lives at most %s", auth.ErrInvalid, MaxTTL)
	}
	secret, err := auth.NewToken(kind)
	if err != nil {
		return wire.TokenCreated{}, err
	}
	id, err := auth.RandomID(12)
	if err != nil {
		return wire.TokenCreated{}, err
	}
	sc, err := json.Marshal(scope)
	if err != nil {
		return wire.TokenCreated{}, err
	}
	now := a.now()
	t := store.Token{ID: id, Hash: auth.HashToken(secret), Last4: auth.Last4(secret), Name: name, User: user, Kind: kind,
		Scope: string(sc), Created: now, Expires: now.Add(ttl)}
	if err := a.st.PutToken(ctx, t); err != nil {
		return wire.TokenCreated{}, notFound(err, "token "+name)
	}
	return wire.TokenCreated{Token: wireToken(t), Secret: secret}, nil
}

// RevokeToken implements api.Accounts.
func (a *Accounts) RevokeToken(ctx context.Context, id string) error {
	if err := a.st.RevokeToken(ctx, id, a.now()); err != nil {
		return notFound(err, "token "+id)
	}
	a.end(id, "", fmt.Errorf("%w: token %s was revoked", api.ErrUnauthenticated, id))
	return nil
}

// Orgs implements api.Accounts.
func (a *Accounts) Orgs(ctx context.Context) ([]string, error) { return a.st.Orgs(ctx) }

// AddOrg implements api.Accounts.
func (a *Accounts) AddOrg(ctx context.Context, name string) error {
	if err := checkName("organization", name); err != nil || strings.ContainsAny(name, "@.") {
		return cmp.Or(err, fmt.Errorf("%w: organization name %q: use lowercase letters, digits and '-'", auth.ErrInvalid, name))
	}
	return notFound(a.st.PutOrg(ctx, name), "organization "+name)
}

// Record implements api.Accounts.
func (a *Accounts) Record(ctx context.Context, e wire.AuditEntry) error {
	return a.st.AppendAudit(ctx, store.AuditEntry{Time: e.Time, User: e.User, Token: e.Token, Source: e.Source, Action: e.Action,
		Target: e.Target, Org: e.Org, Status: e.Status, Result: e.Result, Duration: e.Duration})
}

// Audit implements api.Accounts.
func (a *Accounts) Audit(ctx context.Context, orgs []string, user string, since time.Time, limit int) ([]wire.AuditEntry, error) {
	es, err := a.st.Audit(ctx, store.AuditFilter{Orgs: orgs, User: user, Since: since, Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]wire.AuditEntry, 0, len(es))
	for _, e := range es {
		out = append(out, wire.AuditEntry{ID: e.ID, Time: e.Time, User: e.User, Token: e.Token, Source: e.Source, Action: e.Action,
			Target: e.Target, Org: e.Org, Status: e.Status, Result: e.Result, Duration: e.Duration})
	}
	return out, nil
}

func wireHook(h store.Hook) wire.Hook {
	return wire.Hook{ID: h.ID, Instance: h.Instance, Action: h.Action, Source: h.Source, CreatedBy: h.CreatedBy,
		Created: h.Created, LastUsed: h.LastUsed, URL: wire.Prefix + "/hooks/" + h.ID}
}

// Hooks implements api.Accounts.
func (a *Accounts) Hooks(ctx context.Context) ([]wire.Hook, error) {
	hs, err := a.st.Hooks(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]wire.Hook, 0, len(hs))
	for _, h := range hs {
		out = append(out, wireHook(h))
	}
	return out, nil
}

// Hook implements api.Accounts.
func (a *Accounts) Hook(ctx context.Context, id string) (wire.Hook, error) {
	h, err := a.st.Hook(ctx, id)
	if err != nil {
		return wire.Hook{}, notFound(err, "hook "+id)
	}
	return wireHook(h), nil
}

// CreateHook implements api.Accounts.
func (a *Accounts) CreateHook(ctx context.Context, req wire.HookRequest, org, createdBy string) (wire.HookCreated, error) {
	id, err := auth.RandomID(16)
	if err != nil {
		return wire.HookCreated{}, err
	}
	secret, err := auth.RandomID(40)
	if err != nil {
		return wire.HookCreated{}, err
	}
	h := store.Hook{ID: id, Instance: req.Instance, Org: org, Action: req.Action, Source: req.Source, Secret: []byte(secret),
		CreatedBy: createdBy, Created: a.now()}
	if err := a.st.PutHook(ctx, h); err != nil {
		return wire.HookCreated{}, err
	}
	return wire.HookCreated{Hook: wireHook(h), Secret: secret}, nil
}

// RemoveHook implements api.Accounts.
func (a *Accounts) RemoveHook(ctx context.Context, id string) error {
	return notFound(a.st.DeleteHook(ctx, id), "hook "+id)
}

// Sign returns the X-Quai-Signature value of body for a hook's secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// CheckHook implements api.Accounts.
func (a *Accounts) CheckHook(ctx context.Context, id string, body []byte, signature string) (wire.Hook, wire.HookCall, error) {
	bad := fmt.Errorf("%w: unknown hook or bad signature (%s: sha256=HEX of the body's HMAC-SHA256 with the hook's secret)", api.ErrUnauthenticated, wire.HookSignature)
	now := a.now()
	h, err := a.st.Hook(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return wire.Hook{}, wire.HookCall{}, err
	}
	// Compare even for an unknown hook, so timing tells nothing.
	want := Sign(string(h.Secret), body)
	if err != nil {
		_ = hmac.Equal([]byte(want), []byte(signature))
		return wire.Hook{}, wire.HookCall{}, bad
	}
	// Only known hooks have a budget, so made-up IDs cannot grow memory.
	if wait := a.take(id, now); wait > 0 {
		return wire.Hook{}, wire.HookCall{}, &auth.ThrottledError{What: "hook " + id, RetryAfter: wait}
	}
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return wire.Hook{}, wire.HookCall{}, bad
	}
	var call wire.HookCall
	if err := json.Unmarshal(body, &call); err != nil {
		return wire.Hook{}, wire.HookCall{}, fmt.Errorf("%w: the hook call is not JSON: %w", auth.ErrInvalid, err)
	}
	at := time.Unix(call.Timestamp, 0)
	if call.Timestamp == 0 || at.Before(now.Add(-HookWindow)) || at.After(now.Add(HookWindow)) {
		return wire.Hook{}, wire.HookCall{}, fmt.Errorf("%w: the call's timestamp is missing or more than %s away from the daemon's clock (send the current Unix time in \"timestamp\")", api.ErrUnauthenticated, HookWindow)
	}
	a.mu.Lock()
	for sig, t := range a.seen {
		if now.Sub(t) > 2*HookWindow {
			delete(a.seen, sig)
		}
	}
	_, replay := a.seen[signature]
	a.seen[signature] = now
	a.mu.Unlock()
	if replay {
		return wire.Hook{}, wire.HookCall{}, fmt.Errorf("%w: this call was already made (a replay); sign each call with a new timestamp", api.ErrUnauthenticated)
	}
	_ = a.st.TouchHook(context.WithoutCancel(ctx), id, now)
	return wireHook(h), call, nil
}

// take spends one of the hook's calls; it returns how long to wait when
// none is left.
func (a *Accounts) take(id string, now time.Time) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.buckets[id]
	if b == nil {
		b = &bucket{tokens: float64(a.hookBurst), at: now}
		a.buckets[id] = b
	}
	b.tokens = min(float64(a.hookBurst), b.tokens+now.Sub(b.at).Seconds()/a.hookEvery.Seconds())
	b.at = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) * float64(a.hookEvery))
	}
	b.tokens--
	return 0
}
