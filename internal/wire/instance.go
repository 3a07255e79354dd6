package wire

import (
	"encoding/json"
	"time"
)

// ReleaseStatus is where a release stands.
type ReleaseStatus string

// Release statuses.
const (
	ReleasePending    ReleaseStatus = "pending"
	ReleaseActive     ReleaseStatus = "active"
	ReleaseSuperseded ReleaseStatus = "superseded"
	ReleaseFailed     ReleaseStatus = "failed"
)

// Release is an immutable, numbered record of what an instance runs. It is
// the engine's release as the API sends it; Model is the stack model's
// JSON form.
type Release struct {
	Instance string            `json:"instance"`
	Number   int               `json:"number"`
	Status   ReleaseStatus     `json:"status"`
	Created  time.Time         `json:"created"`
	Runtime  string            `json:"runtime"`
	Model    json.RawMessage   `json:"model"`
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

// Identity names an instance: organization, project, environment.
type Identity struct {
	Org     string `json:"org"`
	Project string `json:"project"`
	Env     string `json:"env"`
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
	Name     string        `json:"name"`
	Identity Identity      `json:"identity"`
	Runtime  string        `json:"runtime"`
	Dir      string        `json:"dir"`
	State    InstanceState `json:"state"`
	Release  int           `json:"release"`
	Updated  time.Time     `json:"updated"`
	URLs     []string      `json:"urls,omitempty"`
	// Backup is the instance's backup health, when it has backups.
	Backup *BackupState `json:"backup,omitempty"`
}

// InstanceStatus is `quai status`.
type InstanceStatus struct {
	Instance
	Services []ServiceStatus `json:"services"`
	// Certificates are those of the instance's routed hosts with TLS from
	// ACME or files (not quai's local CA for *.localhost).
	Certificates []CertificateState `json:"certificates,omitempty"`
}

// CertificateState is the certificate of one routed host.
type CertificateState struct {
	// Host is the routed host (a pattern for wildcard routes).
	Host string `json:"host"`
	// Source is "acme" or "custom" (files).
	Source string `json:"source"`
	// NotAfter is the expiry; zero while an ACME certificate was never
	// obtained.
	NotAfter time.Time `json:"not_after,omitzero"`
	// Error is the last failure to obtain or renew the certificate: what
	// happened and what to do; empty once one succeeded.
	Error string `json:"error,omitempty"`
}

// ServiceStatus is one service in a status report.
type ServiceStatus struct {
	Service  string        `json:"service"`
	Desired  int           `json:"desired"`
	Ready    int           `json:"ready"`
	Hash     string        `json:"hash"`
	Replicas []ReplicaInfo `json:"replicas"`
}

// ReplicaInfo is one replica in a status report.
type ReplicaInfo struct {
	Replica string `json:"replica"`
	Release int    `json:"release"`
	Address string `json:"address,omitempty"`
	// Node is the machine the replica runs on, when the runtime has several
	// (Kubernetes).
	Node   string        `json:"node,omitempty"`
	Status ReplicaStatus `json:"status"`
}

// ReplicaState is a replica's lifecycle state as its runtime reports it.
type ReplicaState string

// Replica states.
const (
	StateStarting ReplicaState = "starting"
	StateRunning  ReplicaState = "running"
	StateExited   ReplicaState = "exited"
	StateStopped  ReplicaState = "stopped"
)

// Health is a replica's health as last checked.
type Health string

// Health values. HealthNone means the service declares no check; the replica
// counts as healthy once running.
const (
	HealthNone      Health = "none"
	HealthStarting  Health = "starting"
	HealthHealthy   Health = "healthy"
	HealthUnhealthy Health = "unhealthy"
)

// ReplicaStatus is what the runtime reports about one replica.
type ReplicaStatus struct {
	State    ReplicaState `json:"state"`
	Health   Health       `json:"health"`
	Restarts int          `json:"restarts"`
	Started  time.Time    `json:"started,omitzero"`
	ExitCode int          `json:"exit_code,omitempty"`
	// Message explains a failure (last health-check output, exit reason).
	Message string `json:"message,omitempty"`
	// CPUPercent and MemoryBytes are current usage when the runtime knows them.
	CPUPercent  float64 `json:"cpu_percent,omitempty"`
	MemoryBytes int64   `json:"memory_bytes,omitempty"`
}

// Healthy reports whether the replica may receive traffic.
func (s ReplicaStatus) Healthy() bool {
	return s.State == StateRunning && (s.Health == HealthHealthy || s.Health == HealthNone)
}

// PrunedImage is an image prune removed, or would remove, on one runtime.
type PrunedImage struct {
	Runtime string   `json:"runtime"`
	ID      string   `json:"id"`
	Tags    []string `json:"tags,omitempty"`
	// Size is the image's size; layers it shares with kept images are not
	// freed.
	Size int64 `json:"size"`
}

// PruneReport is what prune removed, or with DryRun would remove.
type PruneReport struct {
	DryRun bool          `json:"dry_run"`
	Images []PrunedImage `json:"images"`
	// Bytes adds up the images' sizes; layers they share with kept images
	// are not freed.
	Bytes int64 `json:"bytes"`
	// Kept is how many image references the releases keep.
	Kept int `json:"kept"`
	// FailedReplicas are the replicas failed releases kept for their logs
	// that prune removed (instance/replica).
	FailedReplicas []string `json:"failed_replicas,omitempty"`
}
