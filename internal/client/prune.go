package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/quai-dev/quai/internal/api"
	"github.com/quai-dev/quai/internal/engine"
)

// Image clean-up vocabulary, as the engine reports it.
type (
	PruneReport = engine.PruneReport
	PrunedImage = engine.PrunedImage
)

// Prune removes the images quai built or pulled that no kept release
// references; with dryRun it only reports them.
func (c *Client) Prune(ctx context.Context, dryRun bool) (engine.PruneReport, error) {
	resp, err := c.do(ctx, http.MethodPost, "/prune", nil, api.PruneRequest{DryRun: dryRun})
	if err != nil {
		return engine.PruneReport{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	var rep engine.PruneReport
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return engine.PruneReport{}, fmt.Errorf("decode prune report: %w", err)
	}
	return rep, nil
}
