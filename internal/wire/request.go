package wire

import (
	"encoding/json"
	"fmt"
	"time"
)

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
	// APIAddr is the network API's listen address (quai serve --listen),
	// empty when the daemon serves its socket only.
	APIAddr string `json:"api_addr,omitempty"`
	// APIFingerprint is the SHA-256 fingerprint of the certificate that
	// vouches for the network API (quai's own API CA, or the top of a given
	// chain) that clients pin; empty with ACME, which public roots vouch for.
	APIFingerprint string `json:"api_fingerprint,omitempty"`
}

// ModelPayload carries a loaded stack model: its JSON form and, beside it,
// the merged Compose document that form leaves out (it is large and only
// some renderers need it).
type ModelPayload struct {
	Model    json.RawMessage `json:"model"`
	Resolved []byte          `json:"resolved,omitempty"`
	// Upload names a project folder uploaded before (PUT UploadsPath/{hash})
	// that the daemon uses as the project directory instead of the model's
	// Dir, which is a path on the client's machine. Empty: the model's Dir
	// is on the daemon's machine (the unix socket).
	Upload string `json:"upload,omitempty"`
}

// NewModelPayload packs model (internal/stack's *Model, which this package
// does not import) and its merged Compose document for the wire.
func NewModelPayload(model any, resolved []byte) (ModelPayload, error) {
	b, err := json.Marshal(model)
	if err != nil {
		return ModelPayload{}, fmt.Errorf("encode the stack model: %w", err)
	}
	return ModelPayload{Model: b, Resolved: resolved}, nil
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
	// Fingerprint is Plan.Fingerprint of the plan the user confirmed; the
	// daemon refuses with CodePlanChanged when its own plan differs. Empty:
	// run whatever the daemon plans.
	Fingerprint string `json:"fingerprint,omitempty"`
}

// PromoteRequest is the body of POST /api/v1/instances/{name}/promote:
// deploy to the instance the model describes ({name}) the images of a
// release of Source, with the model's own configuration.
type PromoteRequest struct {
	ModelPayload
	// Source is the instance whose release is promoted.
	Source string `json:"source"`
	// Release is the source's release; 0 means its active one.
	Release int    `json:"release,omitempty"`
	Runtime string `json:"runtime,omitempty"`
	DryRun  bool   `json:"dry_run,omitempty"`
	NoWait  bool   `json:"no_wait,omitempty"`
	// Fingerprint is Plan.Fingerprint of the promotion plan the user
	// confirmed, as in UpRequest.
	Fingerprint string `json:"fingerprint,omitempty"`
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

// PruneRequest is the body of POST /api/v1/prune.
type PruneRequest struct {
	// DryRun lists what would be removed and removes nothing.
	DryRun bool `json:"dry_run,omitempty"`
}

// Query parameters of DELETE /api/v1/instances/{name}.
const RemovePurge = "purge"

// Query parameters of GET .../logs.
const (
	LogsService    = "service" // repeated for several services
	LogsFollow     = "follow"
	LogsSince      = "since" // RFC 3339
	LogsUntil      = "until" // RFC 3339
	LogsTail       = "tail"  // per replica
	LogsTimestamps = "timestamps"
	LogsGrep       = "grep" // RE2 regular expression
	// LogsFormat is "text" (the default: "<replica> | [<time> ]<line>") or
	// LogsFormatJSON (one LogLine per line).
	LogsFormat     = "format"
	LogsFormatJSON = "json"
	LogsRelease    = "release" // one release's replicas, a failed one's included
)

// LogLine is one line of an instance's logs, as GET .../logs streams them
// with format=json: one JSON object per line, merged across replicas in
// time order (lines that arrive while following come as they arrive).
type LogLine struct {
	// Time is when the runtime recorded the line; zero when unknown.
	Time    time.Time `json:"time,omitzero"`
	Service string    `json:"service"`
	Replica string    `json:"replica"`
	Line    string    `json:"line"`
}
