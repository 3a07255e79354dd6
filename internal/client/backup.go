package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/quai-dev/quai/internal/wire"
)

// Backup snapshots an instance's backed-up services (one with service).
func (c *Client) Backup(ctx context.Context, instance, service string, emit wire.Emitter) (wire.Event, error) {
	return c.operation(ctx, http.MethodPost, instancePath(instance, "/backup"), nil, wire.BackupRequest{Service: service}, emit)
}

// Restore restores a snapshot into the instance it was taken of, or into req.Into.
func (c *Client) Restore(ctx context.Context, instance string, req wire.RestoreRequest, emit wire.Emitter) (wire.Event, error) {
	return c.operation(ctx, http.MethodPost, instancePath(instance, "/restore"), nil, req, emit)
}

// Drill restores the instance's newest snapshots into a throw-away copy and checks them.
func (c *Client) Drill(ctx context.Context, instance string, emit wire.Emitter) (wire.Event, error) {
	return c.operation(ctx, http.MethodPost, instancePath(instance, "/drill"), nil, struct{}{}, emit)
}

// Clone installs a new instance from a model with the data of snapshots.
func (c *Client) Clone(ctx context.Context, m wire.ModelPayload, runtimeName string, snapshots []string, emit wire.Emitter) (wire.Event, error) {
	return c.operation(ctx, http.MethodPost, "/clone", nil, wire.CloneRequest{ModelPayload: m, Runtime: runtimeName, Snapshots: snapshots}, emit)
}

// Backups lists backup runs and drills of an instance ("" = all).
func (c *Client) Backups(ctx context.Context, instance string) (wire.BackupList, error) {
	var v wire.BackupList
	path := "/backups"
	if instance != "" {
		path += "?" + url.Values{"instance": {instance}}.Encode()
	}
	err := c.getJSON(ctx, path, &v)
	return v, err
}

// RepositorySnapshots lists what an organization's repository holds.
func (c *Client) RepositorySnapshots(ctx context.Context, org string) (wire.BackupList, error) {
	var v wire.BackupList
	err := c.getJSON(ctx, "/backups?"+url.Values{"org": {org}}.Encode(), &v)
	return v, err
}

// VerifyBackups re-reads snapshots.
func (c *Client) VerifyBackups(ctx context.Context, req wire.VerifyRequest, emit wire.Emitter) (wire.Event, error) {
	return c.operation(ctx, http.MethodPost, "/backups/verify", nil, req, emit)
}

// PruneBackups applies the retention of an instance's services ("" = all instances).
func (c *Client) PruneBackups(ctx context.Context, instance string, dryRun bool, emit wire.Emitter) (wire.Event, error) {
	return c.operation(ctx, http.MethodPost, "/backups/prune", nil, wire.BackupPruneRequest{Instance: instance, DryRun: dryRun}, emit)
}

// ForgetBackups deletes every backup of an instance and its backup
// history; it cannot be undone.
func (c *Client) ForgetBackups(ctx context.Context, instance string, emit wire.Emitter) (wire.Event, error) {
	return c.operation(ctx, http.MethodPost, "/backups/forget", nil, wire.BackupForgetRequest{Instance: instance}, emit)
}

// BackupTarget returns where an organization's repository lives.
func (c *Client) BackupTarget(ctx context.Context, org string) (wire.BackupTarget, error) {
	var v wire.BackupTarget
	err := c.getJSON(ctx, "/backups/targets/"+url.PathEscape(org), &v)
	return v, err
}

// SetBackupTarget sets where an organization's repository lives.
func (c *Client) SetBackupTarget(ctx context.Context, t wire.BackupTarget) error {
	return c.putJSON(ctx, http.MethodPut, "/backups/targets/"+url.PathEscape(t.Org), t, nil)
}

// BackupKey returns an organization's repository password.
func (c *Client) BackupKey(ctx context.Context, org string) (wire.BackupKey, error) {
	var v wire.BackupKey
	err := c.getJSON(ctx, "/backups/keys/"+url.PathEscape(org), &v)
	return v, err
}

// ImportBackupKey gives this daemon an organization's repository password
// exported from another host.
func (c *Client) ImportBackupKey(ctx context.Context, org string, k wire.BackupKeyImport) error {
	return c.putJSON(ctx, http.MethodPut, "/backups/keys/"+url.PathEscape(org), k, nil)
}

// SystemBackup copies quai's own state (store and sealed keys) into dir
// ("" = the daemon's default under its data directory).
func (c *Client) SystemBackup(ctx context.Context, dir string) (wire.SystemBackup, error) {
	var v wire.SystemBackup
	err := c.putJSON(ctx, http.MethodPost, "/backups/system", map[string]string{"dir": dir}, &v)
	return v, err
}

// putJSON sends body and decodes the answer into v (when not nil).
func (c *Client) putJSON(ctx context.Context, method, path string, body, v any) error {
	resp, err := c.do(ctx, method, path, nil, body)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if v == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("decode daemon answer to %s: %w", path, err)
	}
	return nil
}
