package runtime

import (
	"context"
	"time"
)

// ReplicaWatcher is implemented by runtimes that learn of replica exits as
// they happen (the process runtime's supervisors, the Docker Engine's
// events), so that an alert about a crash goes out within seconds instead
// of at the next poll. Runtimes without it (Kubernetes) are polled: a
// replica whose Status.Restarts grew restarted.
type ReplicaWatcher interface {
	// WatchReplicas reports what happens to the runtime's replicas from now
	// on until ctx ends, when the channel is closed. Planned stops (Stop,
	// Remove, a daemon shutdown) are not reported. Events are dropped
	// rather than block the runtime when the reader falls behind.
	WatchReplicas(ctx context.Context) (<-chan ReplicaEvent, error)
}

// ReplicaEventKind is what happened to a replica.
type ReplicaEventKind string

// Replica event kinds.
const (
	// ReplicaExited: the replica's process ended by itself (a crash, or an
	// exit its restart policy may or may not restart).
	ReplicaExited ReplicaEventKind = "exited"
	// ReplicaRestarted: the runtime started the replica again after an exit.
	ReplicaRestarted ReplicaEventKind = "restarted"
	// ReplicaOOM: the kernel's OOM killer ended the replica.
	ReplicaOOM ReplicaEventKind = "oom"
)

// ReplicaEvent is one thing that happened to a replica.
type ReplicaEvent struct {
	Time   time.Time
	Handle Handle
	// Labels are the replica's labels: at least LabelInstance, LabelService
	// and LabelReplica.
	Labels   map[string]string
	Kind     ReplicaEventKind
	ExitCode int
	// Reason says why, for people: "exit status 1", "killed by signal 9
	// (SIGKILL)", "OOM killed".
	Reason string
}
