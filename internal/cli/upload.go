package cli

import (
	"context"
	"fmt"

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
	p, err := upload.PackTemp(dir, upload.Limits{})
	if err != nil {
		return "", fmt.Errorf("%w (for %s)", err, c.Where())
	}
	defer func() { _ = p.Close() }()
	has, err := c.HasUpload(ctx, org, p.Hash)
	if err != nil || has {
		return p.Hash, err
	}
	if !g.JSON {
		fprintf(g.stderr, "uploading the project folder to %s: %d files, %s (%s compressed)\n",
			c.Where(), p.Files, bytesHuman(p.Bytes), bytesHuman(p.Size))
	}
	if _, err := c.Upload(ctx, org, p.Hash, p.File); err != nil {
		return "", fmt.Errorf("upload the project folder %s: %w", dir, err)
	}
	return p.Hash, nil
}
