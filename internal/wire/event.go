package wire

import "time"

// EventKind classifies an event.
type EventKind string

// Event kinds. An operation that emitted anything ends its stream with
// exactly one EventDone or EventFailed; one refused before its first event
// emits nothing and its caller gets the error (the API answers it in the
// JSON error shape).
const (
	EventPlan     EventKind = "plan"     // the plan that will be executed (Text holds it)
	EventStep     EventKind = "step"     // a step started (Step, Service, Replica)
	EventProgress EventKind = "progress" // progress within a step (Message, Current/Total)
	EventStepDone EventKind = "step-done"
	// EventStepFailed: a step failed for a service or replica (Message
	// says why; Text holds the failing replica's last log lines). The
	// operation's own outcome still comes as EventFailed.
	EventStepFailed EventKind = "step-failed"
	EventWarning    EventKind = "warning"
	EventWaiting    EventKind = "waiting" // waiting for another operation on the instance
	EventDone       EventKind = "done"
	EventFailed     EventKind = "failed"
	// EventError reports a problem that needs the operator and may have no
	// operation of its own: a failed or missed backup, a failed verify or
	// drill. It does not end a stream.
	EventError EventKind = "error"
)

// Terminal reports whether k ends an operation's stream.
func (k EventKind) Terminal() bool { return k == EventDone || k == EventFailed }

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
	// Text is the printable plan on EventPlan, and the failing replica's
	// last log lines on EventStepFailed.
	Text string `json:"text,omitempty"`
	// Deadline is when a step that waits (health) gives up, on its
	// EventStep, so that a live view can show the time left.
	Deadline time.Time `json:"deadline,omitzero"`
	// Error is set on EventFailed and EventError: what failed and what to do.
	Error string `json:"error,omitempty"`
	// Backup is the progress of a backup or restore on EventProgress.
	Backup *BackupProgress `json:"backup,omitempty"`
}

// Emitter receives events; it must not block for long.
type Emitter func(Event)

// EventsFor is the query parameter of GET /api/v1/events that ends the
// follow after a duration ("30s"); without it, it ends when the client
// leaves.
const EventsFor = "for"
