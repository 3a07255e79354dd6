package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
)

// Release columns sealed with the master key.
const (
	colModel    = "model"
	colResolved = "resolved"
)

// releaseAD is the associated data a release column is sealed with: a
// sealed value copied to another instance, release or column does not open.
func releaseAD(instance string, number int, column string) []byte {
	return []byte("quai release\x00" + instance + "\x00" + strconv.Itoa(number) + "\x00" + column)
}

// sealRelease seals a release's model and merged document. An absent
// document stays absent: it holds nothing.
func (s *SQLite) sealRelease(instance string, number int, model, resolved []byte) ([]byte, []byte) {
	model = s.key.Seal(model, releaseAD(instance, number, colModel))
	if resolved != nil {
		resolved = s.key.Seal(resolved, releaseAD(instance, number, colResolved))
	}
	return model, resolved
}

// openRelease is sealRelease's inverse.
func (s *SQLite) openRelease(instance string, number int, model, resolved []byte) ([]byte, []byte, error) {
	m, err := s.key.Open(model, releaseAD(instance, number, colModel))
	if err != nil {
		return nil, nil, fmt.Errorf("release %d of %s: %s: %w (is this the master key the release was sealed with?)", number, instance, colModel, err)
	}
	if resolved == nil {
		return m, nil, nil
	}
	r, err := s.key.Open(resolved, releaseAD(instance, number, colResolved))
	if err != nil {
		return nil, nil, fmt.Errorf("release %d of %s: %s: %w (is this the master key the release was sealed with?)", number, instance, colResolved, err)
	}
	return m, r, nil
}

// sealClearReleases seals the releases an older quai stored in the clear,
// in one transaction, then rebuilds the database file and empties the WAL
// so no copy of the clear text stays on disk (in free pages or old frames).
func (s *SQLite) sealClearReleases(ctx context.Context) error {
	n := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT instance, number, model, resolved FROM releases WHERE sealed = 0`)
		if err != nil {
			return err
		}
		type clear struct {
			instance        string
			number          int
			model, resolved []byte
		}
		var todo []clear
		for rows.Next() {
			var c clear
			if err := rows.Scan(&c.instance, &c.number, &c.model, &c.resolved); err != nil {
				_ = rows.Close()
				return err
			}
			todo = append(todo, c)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, c := range todo {
			model, resolved := s.sealRelease(c.instance, c.number, c.model, c.resolved)
			if _, err := tx.ExecContext(ctx, `UPDATE releases SET model = ?, resolved = ?, sealed = 1 WHERE instance = ? AND number = ? AND sealed = 0`,
				model, resolved, c.instance, c.number); err != nil {
				return fmt.Errorf("release %d of %s: %w", c.number, c.instance, err)
			}
		}
		n = len(todo)
		return nil
	})
	if err != nil {
		return fmt.Errorf("seal releases stored in the clear: %w", err)
	}
	if n == 0 {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("rewrite the database after sealing %d releases: %w", n, err)
	}
	if _, err := s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("empty the WAL after sealing %d releases: %w", n, err)
	}
	s.log.Info("sealed releases an older quai stored in the clear", "releases", n)
	return nil
}
