package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/quai-dev/quai/internal/wire"
)

// MetricsTop returns the live figures of every service (`quai top`).
func (c *Client) MetricsTop(ctx context.Context) (wire.MetricsTop, error) {
	var v wire.MetricsTop
	err := c.getJSON(ctx, "/metrics/top", &v)
	return v, err
}

// MetricsSeries returns the history of an instance, or of one of its
// services, over the last since, in at most points steps per series.
func (c *Client) MetricsSeries(ctx context.Context, instance, service string, since time.Duration, points int) (wire.MetricsSeries, error) {
	q := url.Values{"instance": {instance}, "since": {since.String()}}
	if service != "" {
		q.Set("service", service)
	}
	if points > 0 {
		q.Set("points", strconv.Itoa(points))
	}
	resp, err := c.do(ctx, http.MethodGet, "/metrics/series", q, nil)
	if err != nil {
		return wire.MetricsSeries{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	var v wire.MetricsSeries
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return wire.MetricsSeries{}, fmt.Errorf("decode metrics series: %w", err)
	}
	return v, nil
}
