package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// User is an account of the remote API. Password is the argon2id hash in
// PHC form; the store never sees a password.
type User struct {
	Name     string
	Password string
	Created  time.Time
}

// Grant gives a user a role in an organization ("*": every one), narrowed
// to a project and/or an environment when those are set.
type Grant struct {
	User    string
	Org     string
	Project string
	Env     string
	Role    string
	Created time.Time
}

// Token is an API token: only a SHA-256 of its secret is kept, with its
// last four characters to tell tokens apart.
type Token struct {
	ID    string
	Hash  []byte
	Last4 string
	Name  string
	User  string
	Kind  string
	// Scope is JSON narrowing the user's grants (auth.Scope).
	Scope    string
	Created  time.Time
	Expires  time.Time
	LastUsed time.Time
	Revoked  time.Time
}

// AuditEntry is one recorded change.
type AuditEntry struct {
	ID       int64
	Time     time.Time
	User     string
	Token    string
	Source   string
	Action   string
	Target   string
	Org      string
	Status   int
	Result   string
	Duration time.Duration
}

// AuditFilter selects audit entries; zero fields select all.
type AuditFilter struct {
	// Orgs keeps entries of these organizations (nil: every one).
	Orgs  []string
	User  string
	Since time.Time
	Limit int
}

// Hook is a CI deploy hook; Secret is its HMAC key, in the clear in
// memory only (the store keeps it sealed).
type Hook struct {
	ID        string
	Instance  string
	Org       string
	Action    string
	Source    string
	Secret    []byte
	CreatedBy string
	Created   time.Time
	LastUsed  time.Time
}

// AccountStore keeps organizations, users, grants, tokens, the audit log
// and deploy hooks. *SQLite implements it.
type AccountStore interface {
	// PutOrg records an organization; ErrConflict if it exists.
	PutOrg(ctx context.Context, name string) error
	// Orgs lists the recorded organizations by name.
	Orgs(ctx context.Context) ([]string, error)

	// PutUser creates a user; ErrConflict if the name is taken.
	PutUser(ctx context.Context, u User) error
	// User returns one user; ErrNotFound if unknown.
	User(ctx context.Context, name string) (User, error)
	// Users lists every user by name.
	Users(ctx context.Context) ([]User, error)
	// SetPassword replaces a user's password hash; ErrNotFound if unknown.
	SetPassword(ctx context.Context, name, hash string) error
	// DeleteUser deletes a user with its grants and tokens; ErrNotFound if unknown.
	DeleteUser(ctx context.Context, name string) error

	// PutGrant records (or changes the role of) a grant.
	PutGrant(ctx context.Context, g Grant) error
	// DeleteGrant removes a grant; ErrNotFound if there is none such.
	DeleteGrant(ctx context.Context, g Grant) error
	// Grants lists a user's grants ("" = every user's).
	Grants(ctx context.Context, user string) ([]Grant, error)

	// PutToken records a token; ErrConflict if its ID or hash exists.
	PutToken(ctx context.Context, t Token) error
	// TokenByHash returns the token with this hash; ErrNotFound if none.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	// Token returns a token by ID; ErrNotFound if none.
	Token(ctx context.Context, id string) (Token, error)
	// Tokens lists a user's tokens ("" = every user's), newest first.
	Tokens(ctx context.Context, user string) ([]Token, error)
	// RevokeToken marks a token revoked; ErrNotFound if unknown.
	RevokeToken(ctx context.Context, id string, at time.Time) error
	// TouchToken records a token's use.
	TouchToken(ctx context.Context, id string, at time.Time) error

	// AppendAudit appends an entry; the log has no update nor delete.
	AppendAudit(ctx context.Context, e AuditEntry) error
	// Audit lists entries newest first.
	Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)

	// PutHook records a hook; ErrConflict if its ID exists.
	PutHook(ctx context.Context, h Hook) error
	// Hook returns a hook with its secret; ErrNotFound if unknown.
	Hook(ctx context.Context, id string) (Hook, error)
	// Hooks lists hooks without their secrets, by ID.
	Hooks(ctx context.Context) ([]Hook, error)
	// DeleteHook deletes a hook; ErrNotFound if unknown.
	DeleteHook(ctx context.Context, id string) error
	// TouchHook records a hook's use.
	TouchHook(ctx context.Context, id string, at time.Time) error
}

var _ AccountStore = (*SQLite)(nil)

// PutOrg implements AccountStore.
func (s *SQLite) PutOrg(ctx context.Context, name string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO orgs(name, created) VALUES (?, ?)`, name, unixNano(s.now()))
	if isConstraint(err) {
		return fmt.Errorf("add organization %s: it exists: %w", name, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("add organization %s: %w", name, err)
	}
	return nil
}

// Orgs implements AccountStore.
func (s *SQLite) Orgs(ctx context.Context) ([]string, error) {
	return queryRows(ctx, s.db, "list organizations", `SELECT name FROM orgs ORDER BY name`, nil,
		func(row interface{ Scan(...any) error }) (string, error) {
			var n string
			return n, row.Scan(&n)
		})
}

// PutUser implements AccountStore.
func (s *SQLite) PutUser(ctx context.Context, u User) error {
	created := u.Created
	if created.IsZero() {
		created = s.now()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO users(name, password, created) VALUES (?, ?, ?)`, u.Name, u.Password, unixNano(created))
	if isConstraint(err) {
		return fmt.Errorf("add user %s: the name is taken: %w", u.Name, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("add user %s: %w", u.Name, err)
	}
	return nil
}

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var created int64
	if err := row.Scan(&u.Name, &u.Password, &created); err != nil {
		return u, err
	}
	u.Created = fromNano(created)
	return u, nil
}

// User implements AccountStore.
func (s *SQLite) User(ctx context.Context, name string) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT name, password, created FROM users WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("user %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("user %s: %w", name, err)
	}
	return u, nil
}

// Users implements AccountStore.
func (s *SQLite) Users(ctx context.Context) ([]User, error) {
	return queryRows(ctx, s.db, "list users", `SELECT name, password, created FROM users ORDER BY name`, nil, scanUser)
}

// SetPassword implements AccountStore.
func (s *SQLite) SetPassword(ctx context.Context, name, hash string) error {
	return s.execOne(ctx, "set the password of user "+name, `UPDATE users SET password = ? WHERE name = ?`, hash, name)
}

// DeleteUser implements AccountStore.
func (s *SQLite) DeleteUser(ctx context.Context, name string) error {
	return s.execOne(ctx, "delete user "+name, `DELETE FROM users WHERE name = ?`, name)
}

// execOne runs a statement that must change exactly one row; ErrNotFound
// when it changed none.
func (s *SQLite) execOne(ctx context.Context, what, q string, args ...any) error {
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	} else if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}

// PutGrant implements AccountStore.
func (s *SQLite) PutGrant(ctx context.Context, g Grant) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO grants(username, org, project, env, role, created) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT(username, org, project, env) DO UPDATE SET role = excluded.role`,
		g.User, g.Org, g.Project, g.Env, g.Role, unixNano(s.now()))
	if isConstraint(err) {
		return fmt.Errorf("grant %s to %s: no such user: %w", g.Role, g.User, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("grant %s to %s: %w", g.Role, g.User, err)
	}
	return nil
}

// DeleteGrant implements AccountStore.
func (s *SQLite) DeleteGrant(ctx context.Context, g Grant) error {
	return s.execOne(ctx, "revoke a grant of "+g.User,
		`DELETE FROM grants WHERE username = ? AND org = ? AND project = ? AND env = ?`, g.User, g.Org, g.Project, g.Env)
}

// Grants implements AccountStore.
func (s *SQLite) Grants(ctx context.Context, user string) ([]Grant, error) {
	q := `SELECT username, org, project, env, role, created FROM grants`
	var args []any
	if user != "" {
		q += ` WHERE username = ?`
		args = append(args, user)
	}
	q += ` ORDER BY username, org, project, env`
	return queryRows(ctx, s.db, "list grants", q, args, func(row interface{ Scan(...any) error }) (Grant, error) {
		var g Grant
		var created int64
		err := row.Scan(&g.User, &g.Org, &g.Project, &g.Env, &g.Role, &created)
		g.Created = fromNano(created)
		return g, err
	})
}

// tokenCols are column names; the table holds hashes, never a token.
const tokenCols = `id, hash, last4, name, username, kind, scope, created, expires, last_used, revoked` //nolint:gosec // column names, not a credential

func scanToken(row interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var created, expires, used, revoked int64
	if err := row.Scan(&t.ID, &t.Hash, &t.Last4, &t.Name, &t.User, &t.Kind, &t.Scope, &created, &expires, &used, &revoked); err != nil {
		return t, err
	}
	t.Created, t.Expires, t.LastUsed, t.Revoked = fromNano(created), fromNano(expires), fromNano(used), fromNano(revoked)
	return t, nil
}

// PutToken implements AccountStore.
func (s *SQLite) PutToken(ctx context.Context, t Token) error {
	created := t.Created
	if created.IsZero() {
		created = s.now()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO tokens(`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)`,
		t.ID, t.Hash, t.Last4, t.Name, t.User, t.Kind, t.Scope, unixNano(created), unixNano(t.Expires))
	if isConstraint(err) {
		return fmt.Errorf("create token %s for %s: %w", t.Name, t.User, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create token %s for %s: %w", t.Name, t.User, err)
	}
	return nil
}

// TokenByHash implements AccountStore.
func (s *SQLite) TokenByHash(ctx context.Context, hash []byte) (Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("token: %w", ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("token: %w", err)
	}
	return t, nil
}

// Token implements AccountStore.
func (s *SQLite) Token(ctx context.Context, id string) (Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("token %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("token %s: %w", id, err)
	}
	return t, nil
}

// Tokens implements AccountStore.
func (s *SQLite) Tokens(ctx context.Context, user string) ([]Token, error) {
	q := `SELECT ` + tokenCols + ` FROM tokens`
	var args []any
	if user != "" {
		q += ` WHERE username = ?`
		args = append(args, user)
	}
	q += ` ORDER BY created DESC, id`
	return queryRows(ctx, s.db, "list tokens", q, args, scanToken)
}

// RevokeToken implements AccountStore.
func (s *SQLite) RevokeToken(ctx context.Context, id string, at time.Time) error {
	return s.execOne(ctx, "revoke token "+id, `UPDATE tokens SET revoked = ? WHERE id = ? AND revoked = 0`, unixNano(at), id)
}

// TouchToken implements AccountStore.
func (s *SQLite) TouchToken(ctx context.Context, id string, at time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE tokens SET last_used = ? WHERE id = ?`, unixNano(at), id); err != nil {
		return fmt.Errorf("record the use of token %s: %w", id, err)
	}
	return nil
}

// AppendAudit implements AccountStore.
func (s *SQLite) AppendAudit(ctx context.Context, e AuditEntry) error {
	at := e.Time
	if at.IsZero() {
		at = s.now()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO audit(time, username, token, source, action, target, org, status, result, duration)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		unixNano(at), e.User, e.Token, e.Source, e.Action, e.Target, e.Org, e.Status, e.Result, int64(e.Duration))
	if err != nil {
		return fmt.Errorf("append to the audit log: %w", err)
	}
	return nil
}

// Audit implements AccountStore.
func (s *SQLite) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	var where []string
	var args []any
	if f.Orgs != nil {
		if len(f.Orgs) == 0 {
			return nil, nil
		}
		where = append(where, `org IN (?`+strings.Repeat(", ?", len(f.Orgs)-1)+`)`)
		for _, o := range f.Orgs {
			args = append(args, o)
		}
	}
	if f.User != "" {
		where = append(where, `username = ?`)
		args = append(args, f.User)
	}
	if !f.Since.IsZero() {
		where = append(where, `time >= ?`)
		args = append(args, unixNano(f.Since))
	}
	q := `SELECT id, time, username, token, source, action, target, org, status, result, duration FROM audit`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id DESC`
	if f.Limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	return queryRows(ctx, s.db, "read the audit log", q, args, func(row interface{ Scan(...any) error }) (AuditEntry, error) {
		var e AuditEntry
		var at, d int64
		err := row.Scan(&e.ID, &at, &e.User, &e.Token, &e.Source, &e.Action, &e.Target, &e.Org, &e.Status, &e.Result, &d)
		e.Time, e.Duration = fromNano(at), time.Duration(d)
		return e, err
	})
}

// hookAD is the associated data a hook's secret is sealed with.
func hookAD(id string) []byte { return []byte("quai hook\x00" + id) }

// PutHook implements AccountStore.
func (s *SQLite) PutHook(ctx context.Context, h Hook) error {
	created := h.Created
	if created.IsZero() {
		created = s.now()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO hooks(id, instance, org, action, source, secret, created_by, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		h.ID, h.Instance, h.Org, h.Action, h.Source, s.key.Seal(h.Secret, hookAD(h.ID)), h.CreatedBy, unixNano(created))
	if isConstraint(err) {
		return fmt.Errorf("create hook %s: %w", h.ID, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create hook %s: %w", h.ID, err)
	}
	return nil
}

func scanHook(row interface{ Scan(...any) error }) (Hook, error) {
	var h Hook
	var created, used int64
	if err := row.Scan(&h.ID, &h.Instance, &h.Org, &h.Action, &h.Source, &h.Secret, &h.CreatedBy, &created, &used); err != nil {
		return h, err
	}
	h.Created, h.LastUsed = fromNano(created), fromNano(used)
	return h, nil
}

// Hook implements AccountStore.
func (s *SQLite) Hook(ctx context.Context, id string) (Hook, error) {
	h, err := scanHook(s.db.QueryRowContext(ctx, `SELECT id, instance, org, action, source, secret, created_by, created, last_used FROM hooks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return h, fmt.Errorf("hook %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return h, fmt.Errorf("hook %s: %w", id, err)
	}
	if h.Secret, err = s.key.Open(h.Secret, hookAD(h.ID)); err != nil {
		return h, fmt.Errorf("hook %s: open its secret: %w (is this the master key it was sealed with?)", id, err)
	}
	return h, nil
}

// Hooks implements AccountStore.
func (s *SQLite) Hooks(ctx context.Context) ([]Hook, error) {
	hs, err := queryRows(ctx, s.db, "list hooks", `SELECT id, instance, org, action, source, secret, created_by, created, last_used FROM hooks ORDER BY id`, nil, scanHook)
	for i := range hs {
		hs[i].Secret = nil
	}
	return hs, err
}

// DeleteHook implements AccountStore.
func (s *SQLite) DeleteHook(ctx context.Context, id string) error {
	return s.execOne(ctx, "delete hook "+id, `DELETE FROM hooks WHERE id = ?`, id)
}

// TouchHook implements AccountStore.
func (s *SQLite) TouchHook(ctx context.Context, id string, at time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE hooks SET last_used = ? WHERE id = ?`, unixNano(at), id); err != nil {
		return fmt.Errorf("record the use of hook %s: %w", id, err)
	}
	return nil
}
