package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/quai-dev/quai/internal/wire"
)

// Events follows the events of every operation on the instances the
// caller may see, whoever started them, until ctx ends or the stream is
// closed.
func (c *Client) Events(ctx context.Context) (*EventStream, error) {
	resp, err := c.do(ctx, http.MethodGet, "/events", nil, nil) //nolint:bodyclose // EventStream.Close closes it
	if err != nil {
		return nil, err
	}
	return &EventStream{body: resp.Body, dec: json.NewDecoder(resp.Body)}, nil
}

// EventStream is a stream of operation events.
type EventStream struct {
	body io.ReadCloser
	dec  *json.Decoder
}

// Next returns the next event; io.EOF at the end of the stream.
func (s *EventStream) Next() (wire.Event, error) {
	var ev wire.Event
	err := s.dec.Decode(&ev)
	return ev, err
}

// Close ends the stream.
func (s *EventStream) Close() error { return s.body.Close() }
