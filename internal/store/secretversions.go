package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
)

// secretVersionAD binds a sealed secret value to its instance, name and
// version: a value copied to another row does not open.
func secretVersionAD(instance, name, version string) []byte {
	return []byte("quai secret version\x00" + instance + "\x00" + name + "\x00" + version)
}

// secretVersionID is the version of a value: 16 hex digits of a MAC keyed
// by the master key over the instance, the name and the value.
func (s *SQLite) secretVersionID(instance, name string, value []byte) string {
	msg := make([]byte, 0, len(instance)+len(name)+len(value)+2)
	msg = append(append(append(append(append(msg, instance...), 0), name...), 0), value...)
	return hex.EncodeToString(s.key.MAC("quai secret version", msg))[:16]
}

// PutSecretVersion implements Store.
func (s *SQLite) PutSecretVersion(ctx context.Context, v SecretVersion) (SecretVersion, error) {
	v.Version = s.secretVersionID(v.Instance, v.Name, v.Value)
	if v.Created.IsZero() {
		v.Created = s.now()
	}
	sealed := s.key.Seal(v.Value, secretVersionAD(v.Instance, v.Name, v.Version))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var created int64
		var source string
		err := tx.QueryRowContext(ctx, `SELECT created, source FROM secret_versions WHERE instance = ? AND name = ? AND version = ?`,
			v.Instance, v.Name, v.Version).Scan(&created, &source)
		if err == nil {
			v.Created, v.Source = fromNano(created), source
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO secret_versions(instance, name, version, source, value, created) VALUES (?, ?, ?, ?, ?, ?)`,
			v.Instance, v.Name, v.Version, v.Source, sealed, unixNano(v.Created))
		return err
	})
	if err != nil {
		return SecretVersion{}, fmt.Errorf("keep secret %s of %s: %w", v.Name, v.Instance, err)
	}
	return v, nil
}

// SecretVersion implements Store.
func (s *SQLite) SecretVersion(ctx context.Context, instance, name, version string) (SecretVersion, error) {
	return s.scanSecretVersion(s.db.QueryRowContext(ctx,
		`SELECT instance, name, version, source, value, created FROM secret_versions WHERE instance = ? AND name = ? AND version = ?`,
		instance, name, version), fmt.Sprintf("secret %s version %s of %s", name, version, instance))
}

// LatestSecretVersion implements Store.
func (s *SQLite) LatestSecretVersion(ctx context.Context, instance, name, source string) (SecretVersion, error) {
	return s.scanSecretVersion(s.db.QueryRowContext(ctx,
		`SELECT instance, name, version, source, value, created FROM secret_versions WHERE instance = ? AND name = ? AND source = ?
		ORDER BY created DESC, version LIMIT 1`,
		instance, name, source), fmt.Sprintf("secret %s of %s from %s", name, instance, source))
}

func (s *SQLite) scanSecretVersion(row *sql.Row, what string) (SecretVersion, error) {
	var v SecretVersion
	var created int64
	var sealed []byte
	err := row.Scan(&v.Instance, &v.Name, &v.Version, &v.Source, &sealed, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return SecretVersion{}, fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if err != nil {
		return SecretVersion{}, fmt.Errorf("read %s: %w", what, err)
	}
	v.Created = fromNano(created)
	if v.Value, err = s.key.Open(sealed, secretVersionAD(v.Instance, v.Name, v.Version)); err != nil {
		return SecretVersion{}, fmt.Errorf("%s: %w (is this the master key it was sealed with?)", what, err)
	}
	return v, nil
}

// DeleteSecretVersions implements Store.
func (s *SQLite) DeleteSecretVersions(ctx context.Context, instance string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM secret_versions WHERE instance = ?`, instance); err != nil {
		return fmt.Errorf("delete the secrets of %s: %w", instance, err)
	}
	return nil
}
