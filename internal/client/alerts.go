package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/quai-dev/quai/internal/wire"
)

// Alerts lists the active alerts and silences, and with history the
// resolved alerts, newest first.
func (c *Client) Alerts(ctx context.Context, history bool) (wire.AlertList, error) {
	var out wire.AlertList
	path := "/alerts"
	if history {
		path += "?history=1"
	}
	return out, c.getJSON(ctx, path, &out)
}

// Silence mutes an instance's alerts (of one rule when req.Rule is set)
// for req.For.
func (c *Client) Silence(ctx context.Context, req wire.SilenceRequest) (wire.AlertSilence, error) {
	var out wire.AlertSilence
	return out, c.postJSON(ctx, "/alerts/silences", req, &out)
}

// Unsilence removes a silence by ID.
func (c *Client) Unsilence(ctx context.Context, id string) error {
	var out struct{}
	return c.callJSON(ctx, http.MethodDelete, "/alerts/silences/"+url.PathEscape(id), nil, &out)
}

// AlertChannels lists the notification channels, URLs masked.
func (c *Client) AlertChannels(ctx context.Context) ([]wire.AlertChannel, error) {
	var out []wire.AlertChannel
	return out, c.getJSON(ctx, "/alerts/channels", &out)
}

// AddAlertChannel adds a notification channel; for a webhook without a
// secret, the answer holds the generated one (shown only then).
func (c *Client) AddAlertChannel(ctx context.Context, req wire.ChannelRequest) (wire.ChannelCreated, error) {
	var out wire.ChannelCreated
	return out, c.postJSON(ctx, "/alerts/channels", req, &out)
}

// RemoveAlertChannel removes a notification channel.
func (c *Client) RemoveAlertChannel(ctx context.Context, name string) error {
	var out struct{}
	return c.callJSON(ctx, http.MethodDelete, "/alerts/channels/"+url.PathEscape(name), nil, &out)
}

// TestAlertChannel sends a test notification through a channel and waits
// until the receiver took it.
func (c *Client) TestAlertChannel(ctx context.Context, name string) (wire.ChannelTest, error) {
	var out wire.ChannelTest
	return out, c.postJSON(ctx, "/alerts/channels/"+url.PathEscape(name)+"/test", struct{}{}, &out)
}
