package client

import (
	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/runtime"
)

// The API speaks the engine's vocabulary. These aliases let the CLI and
// other clients use it without importing the engine package, which the
// layering rules keep out of the CLI.
type (
	Event          = engine.Event
	EventKind      = engine.EventKind
	Emitter        = engine.Emitter
	Plan           = engine.Plan
	ServicePlan    = engine.ServicePlan
	Action         = engine.Action
	Release        = engine.Release
	ReleaseStatus  = engine.ReleaseStatus
	Instance       = engine.Instance
	InstanceState  = engine.InstanceState
	InstanceStatus = engine.InstanceStatus
	ServiceStatus  = engine.ServiceStatus
	ReplicaInfo    = engine.ReplicaInfo
	TermSize       = runtime.TermSize
)

// Event kinds.
const (
	EventPlan     = engine.EventPlan
	EventStep     = engine.EventStep
	EventProgress = engine.EventProgress
	EventStepDone = engine.EventStepDone
	EventWarning  = engine.EventWarning
	EventWaiting  = engine.EventWaiting
	EventDone     = engine.EventDone
	EventFailed   = engine.EventFailed
)

// Plan actions.
const (
	ActionCreate   = engine.ActionCreate
	ActionReplace  = engine.ActionReplace
	ActionScale    = engine.ActionScale
	ActionKeep     = engine.ActionKeep
	ActionRemove   = engine.ActionRemove
	ActionRecreate = engine.ActionRecreate
)

// Release statuses.
const (
	ReleasePending    = engine.ReleasePending
	ReleaseActive     = engine.ReleaseActive
	ReleaseSuperseded = engine.ReleaseSuperseded
	ReleaseFailed     = engine.ReleaseFailed
)

// Instance states.
const (
	InstanceRunning   = engine.InstanceRunning
	InstanceStarting  = engine.InstanceStarting
	InstanceDegraded  = engine.InstanceDegraded
	InstanceStopped   = engine.InstanceStopped
	InstanceFailed    = engine.InstanceFailed
	InstanceDeploying = engine.InstanceDeploying
)
