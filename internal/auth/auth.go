// Package auth is quai's access policy: the roles (admin, member, reader)
// granted per organization and narrowed to a project or an environment,
// the one table of what each action needs (Rules), the principal a
// request runs as (carried in its context), API token and password
// formats, and login throttling.
//
// It is pure logic over the standard library, internal/wire and
// golang.org/x/crypto: the API imports it to decide, and
// internal/auth/accounts keeps users, tokens, the audit log and hooks in
// the store. It must not import the store, the engine or the API.
package auth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Role is what a grant allows; a higher role allows everything a lower does.
type Role int

// Roles, lowest first.
const (
	RoleNone Role = iota
	RoleReader
	RoleMember
	RoleAdmin
)

var roleNames = [...]string{"none", "reader", "member", "admin"}

func (r Role) String() string {
	if r < 0 || int(r) >= len(roleNames) {
		return "role(" + fmt.Sprint(int(r)) + ")"
	}
	return roleNames[r]
}

// ErrInvalid is a malformed role, grant, scope or token.
var ErrInvalid = errors.New("invalid")

// ParseRole reads "admin", "member" or "reader".
func ParseRole(s string) (Role, error) {
	for i, n := range roleNames {
		if i > 0 && n == s {
			return Role(i), nil
		}
	}
	return RoleNone, fmt.Errorf("%w: role %q: use admin, member or reader", ErrInvalid, s)
}

// AllOrgs is the organization of a grant over every organization: an
// admin of "*" is the host's administrator.
const AllOrgs = "*"

// Grant gives a role in Org, narrowed to Project and/or Env when set.
type Grant struct {
	Org     string `json:"org"`
	Project string `json:"project,omitempty"`
	Env     string `json:"env,omitempty"`
	Role    Role   `json:"role"`
}

// String is "ROLE ORG[/PROJECT][:ENV]" ("member acme/shop:dev").
func (g Grant) String() string { return g.Role.String() + " " + g.Path() }

// Path is "ORG[/PROJECT][:ENV]".
func (g Grant) Path() string {
	s := g.Org
	if g.Project != "" {
		s += "/" + g.Project
	}
	if g.Env != "" {
		s += ":" + g.Env
	}
	return s
}

// ParsePath reads "ORG[/PROJECT][:ENV]" into a grant without a role.
func ParsePath(s string) (Grant, error) {
	var g Grant
	rest, env, _ := strings.Cut(s, ":")
	g.Org, g.Project, _ = strings.Cut(rest, "/")
	g.Env = env
	if g.Org == "" || strings.ContainsAny(g.Project+g.Env, "/:*") || strings.ContainsAny(g.Org, "/:") ||
		(g.Org == AllOrgs && (g.Project != "" || g.Env != "")) {
		return Grant{}, fmt.Errorf("%w: %q is not ORG[/PROJECT][:ENV] (e.g. acme, acme/shop, acme:prod, acme/shop:dev, or * for every organization)", ErrInvalid, s)
	}
	return g, nil
}

// Target is what a request is about: an instance (all three set), an
// organization's environment (Org and Env), or an organization.
type Target struct {
	Org     string
	Project string
	Env     string
}

func (t Target) String() string {
	return Grant{Org: t.Org, Project: t.Project, Env: t.Env}.Path()
}

// covers reports whether g applies to t: same organization (or every
// one), and g's project and environment unset or equal to t's. A grant
// narrowed to a project does not cover an organization-wide target.
func (g Grant) covers(t Target) bool {
	if g.Org != AllOrgs && g.Org != t.Org {
		return false
	}
	return (g.Project == "" || g.Project == t.Project) && (g.Env == "" || g.Env == t.Env)
}

// touches reports whether g gives anything inside t's organization (a
// narrowed grant touches its org even though it does not cover it).
func (g Grant) touches(org string) bool { return g.Org == AllOrgs || g.Org == org }

// Scope narrows a token below its user's grants: to an organization,
// project and environment (empty: no narrowing), and to a set of actions
// or action groups (empty: any).
type Scope struct {
	Org     string   `json:"org,omitempty"`
	Project string   `json:"project,omitempty"`
	Env     string   `json:"env,omitempty"`
	Actions []string `json:"actions,omitempty"`
}

// IsZero reports whether the scope narrows nothing.
func (s Scope) IsZero() bool {
	return s.Org == "" && s.Project == "" && s.Env == "" && len(s.Actions) == 0
}

func (s Scope) contains(t Target) bool {
	return (s.Org == "" || s.Org == t.Org) && (s.Project == "" || s.Project == t.Project) && (s.Env == "" || s.Env == t.Env)
}

func (s Scope) allows(a Action) bool {
	if len(s.Actions) == 0 {
		return true
	}
	for _, x := range s.Actions {
		if Action(x) == a || slices.Contains(ActionGroups[x], a) {
			return true
		}
	}
	return false
}

// String is "ORG[/PROJECT][:ENV] [ACTIONS]" or "" for no narrowing.
func (s Scope) String() string {
	var parts []string
	if s.Org != "" || s.Project != "" || s.Env != "" {
		parts = append(parts, Grant{Org: cmp.Or(s.Org, AllOrgs), Project: s.Project, Env: s.Env}.Path())
	}
	if len(s.Actions) > 0 {
		parts = append(parts, "actions="+strings.Join(s.Actions, ","))
	}
	return strings.Join(parts, " ")
}

// Principal is who a request runs as.
type Principal struct {
	// User is the account's name; "root" for the local socket.
	User string
	// TokenID and TokenName name the credential (empty on the socket).
	TokenID   string
	TokenName string
	// Local is set on the unix socket: the host's administrator.
	Local  bool
	Grants []Grant
	Scope  Scope
	// Expires is when the credential stops being valid (zero: never).
	Expires time.Time
}

// Root is the principal of the unix socket.
var Root = &Principal{User: "root", Local: true}

// HostAdmin reports whether p administers the host: the socket, or an
// admin of every organization whose token is not narrowed.
func (p *Principal) HostAdmin() bool {
	if p.Local {
		return true
	}
	if !p.Scope.IsZero() {
		return false
	}
	for _, g := range p.Grants {
		if g.Org == AllOrgs && g.Role == RoleAdmin {
			return true
		}
	}
	return false
}

// RoleOn is p's effective role on t: the highest grant that covers it
// (org → project → environment), or RoleNone, and none outside the token's
// scope.
func (p *Principal) RoleOn(t Target) Role {
	if p.Local {
		return RoleAdmin
	}
	if !p.Scope.contains(t) {
		return RoleNone
	}
	best := RoleNone
	for _, g := range p.Grants {
		if g.covers(t) && g.Role > best {
			best = g.Role
		}
	}
	return best
}

// SeesOrg reports whether p has any grant inside org (within its scope).
func (p *Principal) SeesOrg(org string) bool {
	if p.Local {
		return true
	}
	if p.Scope.Org != "" && p.Scope.Org != org {
		return false
	}
	for _, g := range p.Grants {
		if g.touches(org) && g.Role > RoleNone {
			return true
		}
	}
	return false
}

// BestRoleIn is p's highest role on anything inside org, within its
// token's scope: what a request about the organization but about no one
// instance of it needs (a project upload for a remote up).
func (p *Principal) BestRoleIn(org string) Role {
	if p.Local {
		return RoleAdmin
	}
	if p.Scope.Org != "" && p.Scope.Org != org {
		return RoleNone
	}
	best := RoleNone
	for _, g := range p.Grants {
		if g.touches(org) && g.Role > best {
			best = g.Role
		}
	}
	return best
}

// Decision is the outcome of an authorization.
type Decision int

// Decisions. Invisible is answered exactly like a target that does not
// exist (404); Forbidden (403) only when the principal can see the target.
const (
	Allowed Decision = iota
	Forbidden
	Invisible
)

// Decide says whether p may do a on t. A target p cannot read is
// Invisible whatever the action; one it can read but whose action needs a
// higher role (or that its token's actions exclude) is Forbidden.
func (p *Principal) Decide(a Action, t Target) Decision {
	rule, ok := RuleOf(a)
	if !ok {
		return Forbidden
	}
	if p.Local {
		return Allowed
	}
	if rule.Reach == ReachHost {
		if p.HostAdmin() {
			return Allowed
		}
		return Forbidden
	}
	role := p.RoleOn(t)
	if rule.Reach == ReachOrg && t.Project == "" && role == RoleNone && p.SeesOrg(t.Org) {
		// A grant narrowed inside the organization lets it see that the
		// organization exists, not act on all of it.
		return Forbidden
	}
	if role < RoleReader {
		return Invisible
	}
	if role < rule.Role || !p.Scope.allows(a) {
		return Forbidden
	}
	return Allowed
}

// Can is Decide(a, t) == Allowed.
func (p *Principal) Can(a Action, t Target) bool { return p.Decide(a, t) == Allowed }

// Describe lists p's grants as "ROLE PATH" strings.
func (p *Principal) Describe() []string {
	out := make([]string, 0, len(p.Grants))
	for _, g := range p.Grants {
		out = append(out, g.String())
	}
	return out
}

type ctxKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal ctx carries; a context without one is
// the unix socket's, which is Root.
func FromContext(ctx context.Context) *Principal {
	if p, ok := ctx.Value(ctxKey{}).(*Principal); ok && p != nil {
		return p
	}
	return Root
}

// ScopeAllows reports whether p's token scope lets it do a at all.
func (p *Principal) ScopeAllows(a Action) bool { return p.Local || p.Scope.allows(a) }

// Errors of the accounts, wrapped with %w.
var (
	// ErrNotFound: no such user, token, hook or organization (or one the
	// caller may not see).
	ErrNotFound = errors.New("not found")
	// ErrExists: the name is taken.
	ErrExists = errors.New("already exists")
)

// ThrottledError refuses an attempt made too soon after failed ones.
type ThrottledError struct {
	What       string
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed attempts: %s is throttled", e.What)
}
