package api

import (
	"github.com/quai-dev/quai/internal/stack"
)

// ContentTypeNDJSON is the content type of operation event streams: one
// engine.Event as JSON per line, flushed as it happens.
const ContentTypeNDJSON = "application/x-ndjson"

// Info describes the daemon answering on the socket.
type Info struct {
	Version   string   `json:"version"`
	Commit    string   `json:"commit,omitempty"`
	PID       int      `json:"pid"`
	DataDir   string   `json:"data_dir"`
	Socket    string   `json:"socket"`
	HTTPAddr  string   `json:"http_addr,omitempty"`
	HTTPSAddr string   `json:"https_addr,omitempty"`
	Runtimes  []string `json:"runtimes,omitempty"`
	// Warnings are problems found at start that need the operator (an
	// engine that does not answer, what a crash left behind and was cleaned).
	Warnings []string `json:"warnings,omitempty"`
}

// ModelPayload carries a loaded stack model. stack.Model keeps its merged
// Compose document out of its JSON form (it is large and only some renderers
// need it), so it travels beside the model.
type ModelPayload struct {
	Model    *stack.Model `json:"model"`
	Resolved []byte       `json:"resolved,omitempty"`
}

// NewModelPayload packs m for the wire.
func NewModelPayload(m *stack.Model) ModelPayload {
	if m == nil {
		return ModelPayload{}
	}
	return ModelPayload{Model: m, Resolved: m.Resolved}
}

// model unpacks the payload, restoring what the model's JSON leaves out.
func (p ModelPayload) model() *stack.Model {
	if p.Model != nil && p.Resolved != nil {
		p.Model.Resolved = p.Resolved
	}
	return p.Model
}

// PlanRequest is the body of POST /api/v1/plan.
type PlanRequest struct {
	ModelPayload
	Runtime string `json:"runtime,omitempty"`
}

// UpRequest is the body of POST /api/v1/up.
type UpRequest struct {
	ModelPayload
	Runtime string `json:"runtime,omitempty"`
	DryRun  bool   `json:"dry_run,omitempty"`
	NoWait  bool   `json:"no_wait,omitempty"`
	Cause   string `json:"cause,omitempty"`
}

// RollbackRequest is the body of POST /api/v1/instances/{name}/rollback.
type RollbackRequest struct {
	// To is the release to return to; 0 means the one before the active release.
	To int `json:"to,omitempty"`
}

// RestartRequest is the body of POST /api/v1/instances/{name}/restart.
type RestartRequest struct {
	// Service restarts one service; empty restarts them all.
	Service string `json:"service,omitempty"`
}

// ErrorBody is the one JSON error shape every endpoint answers with.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what failed and what to do.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// Error codes, stable for clients.
const (
	CodeNotFound          = "not_found"
	CodeBusy              = "busy"
	CodeNoRelease         = "no_release"
	CodeInvalid           = "invalid"
	CodeForbidden         = "forbidden"
	CodeUnsupported       = "unsupported"
	CodeMissingDependency = "missing_dependency"
	CodeUnavailable       = "unavailable"
	CodeCanceled          = "canceled"
	CodeInternal          = "internal"
)
