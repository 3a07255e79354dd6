package runtime

// ReplicaFailure is an error a runtime returns (wrapping ErrRolloutFailed
// or another cause) when one replica made a deploy fail, so that the
// engine can show which replica failed, why, and what it printed last,
// whatever the runtime.
type ReplicaFailure struct {
	// Service and Replica name the failing replica (a pod on Kubernetes).
	Service, Replica string
	// Reason is why, in one line: "CrashLoopBackOff: exited with code 1 3
	// times".
	Reason string
	// Logs are the replica's last log lines (of its previous run when it
	// crashed), "" when none could be read.
	Logs string
	// Err is the error itself, whose message says everything above but
	// the logs.
	Err error
}

func (f *ReplicaFailure) Error() string { return f.Err.Error() }

// Unwrap returns Err.
func (f *ReplicaFailure) Unwrap() error { return f.Err }
