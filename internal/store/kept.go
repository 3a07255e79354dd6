package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/quai-dev/quai/internal/runtime"
)

// KeepHandles implements Store.
func (s *SQLite) KeepHandles(ctx context.Context, instance string, handles []runtime.Handle) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, h := range handles {
			b, err := json.Marshal(h)
			if err != nil {
				return fmt.Errorf("encode handle %s: %w", h.Replica, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO kept_handles(instance, replica, service, release, handle) VALUES (?, ?, ?, ?, ?)`,
				instance, h.Replica, h.Service, h.Release, b); err != nil {
				if isConstraint(err) {
					return fmt.Errorf("handle %s: %w: %w", h.Replica, ErrNotFound, err)
				}
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("keep the failed replicas of %s: %w", instance, err)
	}
	return nil
}

// KeptHandles implements Store.
func (s *SQLite) KeptHandles(ctx context.Context, instance string) ([]runtime.Handle, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT handle FROM kept_handles WHERE instance = ? ORDER BY release, replica`, instance)
	if err != nil {
		return nil, fmt.Errorf("list the kept replicas of %s: %w", instance, err)
	}
	defer func() { _ = rows.Close() }()
	var out []runtime.Handle
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("list the kept replicas of %s: %w", instance, err)
		}
		var h runtime.Handle
		if err := json.Unmarshal(b, &h); err != nil {
			return nil, fmt.Errorf("decode a kept handle of %s: %w", instance, err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the kept replicas of %s: %w", instance, err)
	}
	return out, nil
}

// ForgetKeptHandles implements Store.
func (s *SQLite) ForgetKeptHandles(ctx context.Context, instance string, replicas []string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, r := range replicas {
			if _, err := tx.ExecContext(ctx, `DELETE FROM kept_handles WHERE instance = ? AND replica = ?`, instance, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("forget the kept replicas of %s: %w", instance, err)
	}
	return nil
}
