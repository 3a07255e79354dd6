package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/quai-dev/quai/internal/wire"
)

// Prune removes the images quai built or pulled that no kept release
// references; with dryRun it only reports them.
func (c *Client) Prune(ctx context.Context, dryRun bool) (wire.PruneReport, error) {
	resp, err := c.do(ctx, http.MethodPost, "/prune", nil, wire.PruneRequest{DryRun: dryRun})
	if err != nil {
		return wire.PruneReport{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	var rep wire.PruneReport
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return wire.PruneReport{}, fmt.Errorf("decode prune report: %w", err)
	}
	return rep, nil
}
