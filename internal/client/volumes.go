package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/quai-dev/quai/internal/wire"
)

// Start brings a downed instance back with its active release.
func (c *Client) Start(ctx context.Context, instance string, emit wire.Emitter) (wire.Event, error) {
	return c.operation(ctx, http.MethodPost, instancePath(instance, "/start"), nil, struct{}{}, emit)
}

// Volumes lists the volumes kept for installed and removed instances, or
// for one instance when instance is not empty.
func (c *Client) Volumes(ctx context.Context, instance string) (wire.VolumeList, error) {
	path := "/volumes"
	if instance != "" {
		path += "?" + url.Values{wire.VolumesInstance: {instance}}.Encode()
	}
	var l wire.VolumeList
	return l, c.getJSON(ctx, path, &l)
}

// PurgeVolumes deletes the volumes an earlier removal of instance kept.
func (c *Client) PurgeVolumes(ctx context.Context, instance string, emit wire.Emitter) (wire.Event, error) {
	return c.operation(ctx, http.MethodDelete, "/volumes/"+url.PathEscape(instance), nil, nil, emit)
}
