package client

import (
	"context"

	"github.com/quai-dev/quai/internal/wire"
)

// DashboardLink asks the daemon (over its unix socket: root on the host)
// for a one-time login link to the dashboard.
func (c *Client) DashboardLink(ctx context.Context) (wire.DashboardLink, error) {
	var v wire.DashboardLink
	err := c.postJSON(ctx, "/dashboard/link", struct{}{}, &v)
	return v, err
}
