package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/quai-dev/quai/internal/wire"
)

// WhoAmI says whom the client's credentials belong to.
func (c *Client) WhoAmI(ctx context.Context) (wire.WhoAmI, error) {
	var out wire.WhoAmI
	return out, c.getJSON(ctx, "/whoami", &out)
}

// Users lists the users the caller may see.
func (c *Client) Users(ctx context.Context) ([]wire.User, error) {
	var out []wire.User
	return out, c.getJSON(ctx, "/users", &out)
}

// AddUser creates a user.
func (c *Client) AddUser(ctx context.Context, req wire.UserRequest) (wire.User, error) {
	var out wire.User
	return out, c.postJSON(ctx, "/users", req, &out)
}

// RemoveUser deletes a user with its tokens.
func (c *Client) RemoveUser(ctx context.Context, name string) error {
	var out struct{}
	return c.callJSON(ctx, http.MethodDelete, "/users/"+url.PathEscape(name), nil, &out)
}

// SetPassword changes a user's password.
func (c *Client) SetPassword(ctx context.Context, name, password string) error {
	var out struct{}
	return c.postJSON(ctx, "/users/"+url.PathEscape(name)+"/password", wire.PasswordRequest{Password: password}, &out)
}

// Grant gives a user a role; Revoke (grant false) takes one away.
func (c *Client) Grant(ctx context.Context, user string, req wire.GrantRequest, grant bool) (wire.User, error) {
	var out wire.User
	method := http.MethodPost
	if !grant {
		method = http.MethodDelete
	}
	return out, c.callJSON(ctx, method, "/users/"+url.PathEscape(user)+"/grants", req, &out)
}

// Tokens lists tokens: the caller's, a user's, or (all) every one the
// caller administers.
func (c *Client) Tokens(ctx context.Context, user string, all bool) ([]wire.Token, error) {
	q := url.Values{}
	if user != "" {
		q.Set("user", user)
	}
	if all {
		q.Set("all", "1")
	}
	path := "/tokens"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out []wire.Token
	return out, c.getJSON(ctx, path, &out)
}

// CreateToken makes a token; its secret is in the answer only.
func (c *Client) CreateToken(ctx context.Context, req wire.TokenRequest) (wire.TokenCreated, error) {
	var out wire.TokenCreated
	return out, c.postJSON(ctx, "/tokens", req, &out)
}

// RevokeToken revokes a token by ID.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	var out struct{}
	return c.callJSON(ctx, http.MethodDelete, "/tokens/"+url.PathEscape(id), nil, &out)
}

// Orgs lists the organizations the caller may see.
func (c *Client) Orgs(ctx context.Context) ([]wire.Org, error) {
	var out []wire.Org
	return out, c.getJSON(ctx, "/orgs", &out)
}

// AddOrg adds an organization.
func (c *Client) AddOrg(ctx context.Context, name string) error {
	var out wire.Org
	return c.postJSON(ctx, "/orgs", wire.Org{Name: name}, &out)
}

// AuditQuery filters the audit log.
type AuditQuery struct {
	Org   string
	User  string
	Since time.Time
	Limit int
}

// Audit reads the audit log, newest first.
func (c *Client) Audit(ctx context.Context, q AuditQuery) ([]wire.AuditEntry, error) {
	v := url.Values{}
	if q.Org != "" {
		v.Set(wire.AuditOrg, q.Org)
	}
	if q.User != "" {
		v.Set(wire.AuditUser, q.User)
	}
	if !q.Since.IsZero() {
		v.Set(wire.AuditSince, q.Since.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		v.Set(wire.AuditLimit, strconv.Itoa(q.Limit))
	}
	path := "/audit"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out []wire.AuditEntry
	return out, c.getJSON(ctx, path, &out)
}

// Hooks lists the deploy hooks of the instances the caller may see.
func (c *Client) Hooks(ctx context.Context) ([]wire.Hook, error) {
	var out []wire.Hook
	return out, c.getJSON(ctx, "/hooks", &out)
}

// CreateHook makes a deploy hook; its secret is in the answer only.
func (c *Client) CreateHook(ctx context.Context, req wire.HookRequest) (wire.HookCreated, error) {
	var out wire.HookCreated
	return out, c.postJSON(ctx, "/hooks", req, &out)
}

// RemoveHook deletes a deploy hook.
func (c *Client) RemoveHook(ctx context.Context, id string) error {
	var out struct{}
	return c.callJSON(ctx, http.MethodDelete, "/hooks/"+url.PathEscape(id), nil, &out)
}
