package api

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/quai-dev/quai/internal/auth"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// decodeModel unpacks the stack model a request carries, restoring what the
// model's JSON leaves out. Unknown fields are refused, as in the body
// around it.
func decodeModel(p wire.ModelPayload) (*stack.Model, error) {
	if len(p.Model) == 0 || string(p.Model) == "null" {
		return nil, badRequest("the request carries no stack model", "send {\"model\": ...}")
	}
	dec := json.NewDecoder(bytes.NewReader(p.Model))
	dec.DisallowUnknownFields()
	var m stack.Model
	if err := dec.Decode(&m); err != nil {
		return nil, badRequest("cannot decode the stack model: "+err.Error(),
			"the CLI and the daemon may be different versions; restart the daemon")
	}
	m.Resolved = p.Resolved
	return &m, nil
}

// decodeModelRequest decodes a request body that carries a model (into
// req, whose payload is the model's part) and the model; on failure it has
// answered with the error.
func (s *Server) decodeModelRequest(w http.ResponseWriter, r *http.Request, req any, payload *wire.ModelPayload, a auth.Action) (*stack.Model, bool) {
	if err := decodeBody(w, r, req); err != nil {
		writeError(w, err)
		return nil, false
	}
	m, err := decodeModel(*payload)
	if err != nil {
		writeError(w, err)
		return nil, false
	}
	// Authorization answers before anything about the body does: an
	// instance the caller cannot see is 404 whatever the request carries.
	// An empty action: the route's guard has authorized the instance in
	// its path already.
	if a != "" && !s.authorizeIdentity(w, r, a, m.Identity, m.Identity.Name()) {
		return nil, false
	}
	if err := s.rebaseUpload(r.Context(), m, *payload); err != nil {
		writeError(w, err)
		return nil, false
	}
	return m, true
}
