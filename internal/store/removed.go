package store

import (
	"context"
	"errors"
	"fmt"
)

// PutRemovedInstance implements Store.
func (s *SQLite) PutRemovedInstance(ctx context.Context, r RemovedInstance) error {
	if r.Name == "" {
		return errors.New("put removed instance: empty name")
	}
	removed := r.Removed
	if removed.IsZero() {
		removed = s.now()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO removed_instances(name, org, project, env, runtime, dir, removed)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET org = excluded.org, project = excluded.project, env = excluded.env,
			runtime = excluded.runtime, dir = excluded.dir, removed = excluded.removed`,
		r.Name, r.Identity.Org, r.Identity.Project, r.Identity.Env, r.Runtime, r.Dir, unixNano(removed))
	if err != nil {
		return fmt.Errorf("record removed instance %s: %w", r.Name, err)
	}
	return nil
}

// RemovedInstances implements Store.
func (s *SQLite) RemovedInstances(ctx context.Context) ([]RemovedInstance, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, org, project, env, runtime, dir, removed FROM removed_instances ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list removed instances: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []RemovedInstance
	for rows.Next() {
		var r RemovedInstance
		var removed int64
		if err := rows.Scan(&r.Name, &r.Identity.Org, &r.Identity.Project, &r.Identity.Env, &r.Runtime, &r.Dir, &removed); err != nil {
			return nil, fmt.Errorf("list removed instances: %w", err)
		}
		r.Removed = fromNano(removed)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list removed instances: %w", err)
	}
	return out, nil
}

// DeleteRemovedInstance implements Store.
func (s *SQLite) DeleteRemovedInstance(ctx context.Context, name string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM removed_instances WHERE name = ?`, name); err != nil {
		return fmt.Errorf("forget removed instance %s: %w", name, err)
	}
	return nil
}
