package engine

import (
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// This file is the engine's public vocabulary: what the API serialises and
// the CLI renders. Keep it free of behaviour.
//
// The API's vocabulary lives in internal/wire; the engine speaks it
// directly. Types that hold the stack model or a runtime's status stay here
// and have wire twins (wire.Release, wire.Instance...), kept in step by a
// test in internal/api.
type (
	Event         = wire.Event
	EventKind     = wire.EventKind
	Emitter       = wire.Emitter
	Action        = wire.Action
	ServicePlan   = wire.ServicePlan
	Plan          = wire.Plan
	ReleaseStatus = wire.ReleaseStatus
	InstanceState = wire.InstanceState
)

// Event kinds.
const (
	EventPlan     = wire.EventPlan
	EventStep     = wire.EventStep
	EventProgress = wire.EventProgress
	EventStepDone = wire.EventStepDone
	// EventStepFailed reports the replica that failed a step.
	EventStepFailed = wire.EventStepFailed
	EventWarning    = wire.EventWarning
	EventWaiting    = wire.EventWaiting
	EventDone       = wire.EventDone
	EventFailed     = wire.EventFailed
	EventError      = wire.EventError
)

// Actions.
const (
	ActionCreate   = wire.ActionCreate
	ActionReplace  = wire.ActionReplace
	ActionScale    = wire.ActionScale
	ActionKeep     = wire.ActionKeep
	ActionRemove   = wire.ActionRemove
	ActionRecreate = wire.ActionRecreate
)

// Release statuses.
const (
	ReleasePending    = wire.ReleasePending
	ReleaseActive     = wire.ReleaseActive
	ReleaseSuperseded = wire.ReleaseSuperseded
	ReleaseFailed     = wire.ReleaseFailed
)

// Instance states.
const (
	InstanceRunning   = wire.InstanceRunning
	InstanceStarting  = wire.InstanceStarting
	InstanceDegraded  = wire.InstanceDegraded
	InstanceStopped   = wire.InstanceStopped
	InstanceFailed    = wire.InstanceFailed
	InstanceDeploying = wire.InstanceDeploying
)

// Release is an immutable, numbered record of what an instance runs.
type Release struct {
	Instance string            `json:"instance"`
	Number   int               `json:"number"`
	Status   ReleaseStatus     `json:"status"`
	Created  time.Time         `json:"created"`
	Runtime  string            `json:"runtime"`
	Model    *stack.Model      `json:"model"`
	Hashes   map[string]string `json:"hashes"` // service → config hash
	// Images maps service → image reference as deployed (digest-pinned where
	// the runtime resolves digests).
	Images map[string]string `json:"images,omitempty"`
	// Secrets maps each sealed secret to the version of its value the
	// release runs with; never a value.
	Secrets map[string]string `json:"secrets,omitempty"`
	// Cause says what made it: "up", "rollback to 3", ...
	Cause string `json:"cause"`
	Error string `json:"error,omitempty"`
}

// ReplicaInfo is one replica in a status report.
type ReplicaInfo struct {
	Replica string `json:"replica"`
	Release int    `json:"release"`
	Address string `json:"address,omitempty"`
	// Node is the machine the replica runs on, when the runtime has several
	// (Kubernetes).
	Node   string         `json:"node,omitempty"`
	Status runtime.Status `json:"status"`
}

// ServiceStatus is one service in a status report.
type ServiceStatus struct {
	Service  string        `json:"service"`
	Desired  int           `json:"desired"`
	Ready    int           `json:"ready"`
	Hash     string        `json:"hash"`
	Replicas []ReplicaInfo `json:"replicas"`
}

// Instance is an installed instance as listed by `quai ls`.
type Instance struct {
	Name     string         `json:"name"`
	Identity stack.Identity `json:"identity"`
	Runtime  string         `json:"runtime"`
	Dir      string         `json:"dir"`
	State    InstanceState  `json:"state"`
	Release  int            `json:"release"`
	Updated  time.Time      `json:"updated"`
	URLs     []string       `json:"urls,omitempty"`
	// Backup is the instance's backup health, when it has backups.
	Backup *wire.BackupState `json:"backup,omitempty"`
}

// InstanceStatus is `quai status`.
type InstanceStatus struct {
	Instance
	Services     []ServiceStatus         `json:"services"`
	Certificates []wire.CertificateState `json:"certificates,omitempty"`
}
