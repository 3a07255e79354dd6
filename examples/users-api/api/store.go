package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store errors the handlers turn into HTTP statuses.
var (
	ErrNotFound       = errors.New("user not found")
	ErrDuplicateEmail = errors.New("a user with this email already exists")
)

// User is one row of the users table.
type User struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"created_at"`
}

// migrationLock is the advisory lock key that serialises migrations: replicas
// started together would otherwise race on CREATE TABLE IF NOT EXISTS, which
// is not atomic in PostgreSQL.
const migrationLock = 0x7573657273 // "users"

const schema = `
CREATE TABLE IF NOT EXISTS users (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name       text        NOT NULL,
	email      text        NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT users_email_key UNIQUE (email)
)`

// migrate creates the schema if it is missing; running it again is a no-op.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, schema); err != nil {
		return fmt.Errorf("migrate: create table users: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// store holds the queries; it is a thin layer so handlers read as HTTP only.
type store struct {
	pool *pgxpool.Pool
}

// listLimit caps GET /api/users; the example has no pagination.
const listLimit = 1000

func (s store) list(ctx context.Context) ([]User, error) {
	rows, err := s.pool.Query(ctx, "SELECT id, name, email, created_at FROM users ORDER BY id LIMIT $1", listLimit)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	users, err := pgx.CollectRows(rows, pgx.RowToStructByPos[User])
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

func (s store) get(ctx context.Context, id int64) (User, error) {
	var u User
	err := s.pool.QueryRow(ctx, "SELECT id, name, email, created_at FROM users WHERE id = $1", id).
		Scan(&u.ID, &u.Name, &u.Email, &u.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, ErrNotFound
	}
	if err != nil {
		return u, fmt.Errorf("get user %d: %w", id, err)
	}
	return u, nil
}

func (s store) create(ctx context.Context, name, email string) (User, error) {
	u := User{Name: name, Email: email}
	err := s.pool.QueryRow(ctx, "INSERT INTO users (name, email) VALUES ($1, $2) RETURNING id, created_at", name, email).
		Scan(&u.ID, &u.CreatedAt)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique_violation
		return u, ErrDuplicateEmail
	}
	if err != nil {
		return u, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

func (s store) delete(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM users WHERE id = $1", id)
	if err != nil {
		return fmt.Errorf("delete user %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

func (s store) ping(ctx context.Context) error {
	return s.pool.Ping(ctx)
}
