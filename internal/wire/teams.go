package wire

import "time"

// CodeThrottled: too many failed logins or hook calls; retry after the
// Retry-After header's seconds (429).
const CodeThrottled = "throttled"

// User is an account of the remote API, with its grants.
type User struct {
	Name string `json:"name"`
	// Grants are "ROLE ORG[/PROJECT][:ENV]" strings, e.g. "member acme/shop:dev".
	Grants  []string  `json:"grants"`
	Created time.Time `json:"created,omitzero"`
}

// UserRequest is the body of POST /users: a new user, with a first grant
// (an organization's admin may add users only with a grant in it).
type UserRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	// Role and Path ("ORG[/PROJECT][:ENV]") make the first grant; both or neither.
	Role string `json:"role,omitempty"`
	Path string `json:"path,omitempty"`
}

// GrantRequest is the body of POST and DELETE /users/NAME/grants.
type GrantRequest struct {
	// Role is needed to grant, ignored to revoke.
	Role string `json:"role,omitempty"`
	// Path is "ORG[/PROJECT][:ENV]", "*" for every organization.
	Path string `json:"path"`
}

// PasswordRequest is the body of POST /users/NAME/password.
type PasswordRequest struct {
	Password string `json:"password"`
}

// Token describes an API token; its secret is never shown again.
type Token struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	User     string    `json:"user"`
	Kind     string    `json:"kind"`
	Last4    string    `json:"last4"`
	Scope    string    `json:"scope,omitempty"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires,omitzero"`
	LastUsed time.Time `json:"last_used,omitzero"`
	Revoked  time.Time `json:"revoked,omitzero"`
}

// TokenRequest is the body of POST /tokens.
type TokenRequest struct {
	Name string `json:"name"`
	// User owns the token; "" is the caller (an admin may make one for a
	// user it administers, e.g. a CI account).
	User string `json:"user,omitempty"`
	// TTL is the lifetime; zero is the daemon's default (30 days).
	TTL time.Duration `json:"ttl,omitempty"`
	// Path narrows the token to "ORG[/PROJECT][:ENV]" or one instance
	// (Instance); Actions to actions or groups ("deploy").
	Path     string   `json:"path,omitempty"`
	Instance string   `json:"instance,omitempty"`
	Actions  []string `json:"actions,omitempty"`
}

// TokenCreated hands out a new token's secret, this once.
type TokenCreated struct {
	Token
	Secret string `json:"secret"`
}

// AuditEntry is one recorded change.
type AuditEntry struct {
	ID       int64         `json:"id"`
	Time     time.Time     `json:"time"`
	User     string        `json:"user"`
	Token    string        `json:"token,omitempty"`
	Source   string        `json:"source,omitempty"`
	Action   string        `json:"action"`
	Target   string        `json:"target,omitempty"`
	Org      string        `json:"org,omitempty"`
	Status   int           `json:"status"`
	Result   string        `json:"result,omitempty"`
	Duration time.Duration `json:"duration"`
}

// Audit query parameters of GET /audit.
const (
	AuditOrg   = "org"
	AuditUser  = "user"
	AuditSince = "since" // RFC 3339
	AuditLimit = "limit"
)

// Org is an organization.
type Org struct {
	Name string `json:"name"`
}

// HookRequest is the body of POST /hooks: a deploy hook for an instance.
type HookRequest struct {
	Instance string `json:"instance"`
	// Action is "deploy" (re-deploy the active release's stack with new
	// images) or "promote" (promote a release of Source).
	Action string `json:"action"`
	// Source is the instance a promote hook promotes from.
	Source string `json:"source,omitempty"`
}

// Hook describes a deploy hook; its secret is never shown again.
type Hook struct {
	ID        string    `json:"id"`
	Instance  string    `json:"instance"`
	Action    string    `json:"action"`
	Source    string    `json:"source,omitempty"`
	CreatedBy string    `json:"created_by"`
	Created   time.Time `json:"created"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	// URL is the path to POST to: /api/v1/hooks/ID.
	URL string `json:"url"`
}

// HookCreated hands out a new hook's HMAC secret, this once.
type HookCreated struct {
	Hook
	Secret string `json:"secret"`
}

// HookSignature is the header of a hook call: "sha256=" and the hex
// HMAC-SHA256 of the body with the hook's secret.
const HookSignature = "X-Quai-Signature"

// HookCall is the body of POST /hooks/ID.
type HookCall struct {
	// Timestamp is the call's time (Unix seconds); calls more than five
	// minutes off, and repeats of a call, are refused.
	Timestamp int64 `json:"timestamp"`
	// Images maps services to new image references (tag or digest), for
	// a deploy hook.
	Images map[string]string `json:"images,omitempty"`
	// Release is the source release a promote hook promotes (0: active).
	Release int `json:"release,omitempty"`
}

// HookResult is the answer of a hook call.
type HookResult struct {
	Instance string `json:"instance"`
	Release  int    `json:"release"`
	Status   string `json:"status"`
}
