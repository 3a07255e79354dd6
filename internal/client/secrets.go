package client

import (
	"context"
	"net/url"

	"github.com/quai-dev/quai/internal/wire"
)

// SecretKeys lists the daemon's age keys of org and env ("" for all),
// newest generation first: public facts only.
func (c *Client) SecretKeys(ctx context.Context, org, env string) ([]wire.SecretKey, error) {
	q := url.Values{}
	if org != "" {
		q.Set(wire.SecretKeysOrg, org)
	}
	if env != "" {
		q.Set(wire.SecretKeysEnv, env)
	}
	path := "/secrets/keys"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var v []wire.SecretKey
	err := c.getJSON(ctx, path, &v)
	return v, err
}

// SecretsFile has the daemon change a sealed project file (set, delete,
// rotate) and returns its new content, which the caller writes.
func (c *Client) SecretsFile(ctx context.Context, req wire.SecretsFileRequest) (wire.SecretsFile, error) {
	var v wire.SecretsFile
	err := c.postJSON(ctx, "/secrets/file", req, &v)
	return v, err
}

// ExportSecretKeys returns the daemon's keys of req.Org and req.Env as an
// age identity file, encrypted to req.Passphrase when it is set.
func (c *Client) ExportSecretKeys(ctx context.Context, req wire.SecretsExportRequest) (wire.SecretsExport, error) {
	var v wire.SecretsExport
	err := c.postJSON(ctx, "/secrets/keys/export", req, &v)
	return v, err
}

// ImportSecretKeys gives the daemon the keys of an exported bundle or an age
// identity file.
func (c *Client) ImportSecretKeys(ctx context.Context, req wire.SecretsImportRequest) (wire.SecretsImport, error) {
	var v wire.SecretsImport
	err := c.postJSON(ctx, "/secrets/keys/import", req, &v)
	return v, err
}

// RetireSecretKey removes a key generation that none of req.Files lists.
func (c *Client) RetireSecretKey(ctx context.Context, req wire.SecretsRetireRequest) (wire.SecretKey, error) {
	var v wire.SecretKey
	err := c.postJSON(ctx, "/secrets/keys/retire", req, &v)
	return v, err
}
