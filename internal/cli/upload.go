package cli

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/upload"
	"github.com/quai-dev/quai/internal/wire"
)

// modelPayload packs m for the daemon c talks to. A remote daemon cannot
// read the project folder on this machine: the folder (less .git and what
// .dockerignore and .quaiignore list) is uploaded once per content, and
// the payload names the upload; the daemon rebases the model onto it.
func (g *globals) modelPayload(ctx context.Context, c *client.Client, m *stack.Model) (wire.ModelPayload, error) {
	p, err := wire.NewModelPayload(m, m.Resolved)
	if err != nil || c.Remote() == "" {
		return p, err
	}
	hash, err := g.uploadProject(ctx, c, m.Identity.OrgOrDefault(), m.Dir)
	if err != nil {
		return wire.ModelPayload{}, err
	}
	p.Upload = hash
	return p, nil
}

// uploadProject packs dir into a temporary file (its hash names it) and
// sends it unless the daemon has it already; it returns the hash.
func (g *globals) uploadProject(ctx context.Context, c *client.Client, org, dir string) (string, error) {
	tmp, err := os.CreateTemp("", "quai-upload-*.tar.gz")
	if err != nil {
		return "", fmt.Errorf("pack the project folder: %w", err)
	}
	defer func() { _ = tmp.Close(); _ = os.Remove(tmp.Name()) }()
	zw, err := gzip.NewWriterLevel(tmp, gzip.BestSpeed)
	if err != nil {
		return "", err
	}
	sum, err := upload.Pack(dir, zw, upload.Limits{})
	if err != nil {
		return "", fmt.Errorf("pack the project folder %s for %s: %w", dir, c.Where(), err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("pack the project folder: %w", err)
	}
	has, err := c.HasUpload(ctx, org, sum.Hash)
	if err != nil {
		return "", err
	}
	if has {
		return sum.Hash, nil
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return "", err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	if !g.JSON {
		fprintf(g.stderr, "uploading the project folder to %s: %d files, %s (%s compressed)\n",
			c.Where(), sum.Files, bytesHuman(sum.Bytes), bytesHuman(size))
	}
	if _, err := c.Upload(ctx, org, sum.Hash, tmp); err != nil {
		return "", fmt.Errorf("upload the project folder %s: %w", dir, err)
	}
	return sum.Hash, nil
}
