package engine

import (
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// This file is the engine's public vocabulary: what the API serialises and
// the CLI renders. Keep it free of behaviour.

// EventKind classifies an event.
type EventKind string

// Event kinds. A stream of events for one operation always ends with exactly
// one EventDone or EventFailed.
const (
	EventPlan     EventKind = "plan"     // the plan that will be executed (Text holds it)
	EventStep     EventKind = "step"     // a step started (Step, Service, Replica)
	EventProgress EventKind = "progress" // progress within a step (Message, Current/Total)
	EventStepDone EventKind = "step-done"
	EventWarning  EventKind = "warning"
	EventWaiting  EventKind = "waiting" // waiting for another operation on the instance
	EventDone     EventKind = "done"
	EventFailed   EventKind = "failed"
)

// Event is emitted by the engine during an operation; the CLI renders it (tty
// progress, plain lines, JSON) and the dashboard streams it.
type Event struct {
	Time     time.Time `json:"time"`
	Kind     EventKind `json:"kind"`
	Instance string    `json:"instance"`
	Service  string    `json:"service,omitempty"`
	Replica  string    `json:"replica,omitempty"`
	Step     string    `json:"step,omitempty"`
	Message  string    `json:"message,omitempty"`
	Current  int       `json:"current,omitempty"`
	Total    int       `json:"total,omitempty"`
	// Release is set on EventDone/EventFailed of operations that made one.
	Release int `json:"release,omitempty"`
	// Text is the printable plan on EventPlan.
	Text string `json:"text,omitempty"`
	// Error is set on EventFailed: what failed and what to do.
	Error string `json:"error,omitempty"`
}

// Emitter receives events; it must not block for long.
type Emitter func(Event)

// Action is what a plan does to one service.
type Action string

// Actions.
const (
	ActionCreate   Action = "create"   // new service: start replicas
	ActionReplace  Action = "replace"  // config hash changed: start new, switch, drain old
	ActionScale    Action = "scale"    // same hash, different replica count
	ActionKeep     Action = "keep"     // nothing to do
	ActionRemove   Action = "remove"   // service no longer declared
	ActionRecreate Action = "recreate" // replicas missing or dead: start again, same hash
)

// ServicePlan is the plan for one service.
type ServicePlan struct {
	Service  string `json:"service"`
	Action   Action `json:"action"`
	FromHash string `json:"from_hash,omitempty"`
	ToHash   string `json:"to_hash,omitempty"`
	From     int    `json:"from_replicas"`
	To       int    `json:"to_replicas"`
	// Routed reports whether the service receives proxy traffic, so
	// replacement must be zero-downtime.
	Routed bool `json:"routed,omitempty"`
	// Reason explains the action in a few words ("image changed", "new service").
	Reason string `json:"reason,omitempty"`
}

// Plan is the pure result of comparing desired and observed state. Its Text
// is what the CLI shows and what tests compare.
type Plan struct {
	Instance string        `json:"instance"`
	Release  int           `json:"release"`  // the release this plan will create
	Services []ServicePlan `json:"services"` // in start order (dependencies first)
	Routes   []string      `json:"routes,omitempty"`
	// RoutesChanged reports that the routes differ from the active release's.
	RoutesChanged bool `json:"routes_changed,omitempty"`
	// ModelChanged reports that the model differs from the active release's
	// (routes, backup policy, replica counts...), so executing the plan
	// records a new release even when every service is kept.
	ModelChanged bool   `json:"model_changed,omitempty"`
	Text         string `json:"text"`
}

// Empty reports whether executing the plan would change nothing: every
// service is kept and the model is the active release's.
func (p Plan) Empty() bool {
	if p.ModelChanged || p.RoutesChanged {
		return false
	}
	for _, s := range p.Services {
		if s.Action != ActionKeep {
			return false
		}
	}
	return true
}

// ReleaseStatus is where a release stands.
type ReleaseStatus string

// Release statuses.
const (
	ReleasePending    ReleaseStatus = "pending"
	ReleaseActive     ReleaseStatus = "active"
	ReleaseSuperseded ReleaseStatus = "superseded"
	ReleaseFailed     ReleaseStatus = "failed"
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

// InstanceState is the lifecycle state of an instance.
type InstanceState string

// Instance states.
const (
	InstanceRunning InstanceState = "running"
	// InstanceStarting: no replica is ready yet and none has failed.
	InstanceStarting  InstanceState = "starting"
	InstanceDegraded  InstanceState = "degraded"
	InstanceStopped   InstanceState = "stopped"
	InstanceFailed    InstanceState = "failed"
	InstanceDeploying InstanceState = "deploying"
)

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
}

// InstanceStatus is `quai status`.
type InstanceStatus struct {
	Instance
	Services []ServiceStatus `json:"services"`
}
