// Package store owns quai's persistent control-plane state: instances, their
// immutable numbered releases, the handles of running replicas, operation
// records (the persisted half of the per-instance lock) and daemon settings.
// It hides the storage behind the small Store interface; SQLite is the
// embedded implementation.
//
// A release's model and merged Compose document are stored sealed with the
// host's master key (internal/secrets), and the database's files are private
// to the daemon's user: they hold every release's secret values.
//
// It may import internal/stack and internal/runtime (for identities and
// handles), internal/secrets (for sealing) and nothing else of quai: the
// engine, the API and the CLI sit above it.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// Errors every Store implementation returns, wrapped with %w.
var (
	// ErrNotFound: the instance, release, operation or setting does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the write contradicts what is stored (an operation is
	// already running on the instance, a release is not in the status the
	// change requires, an instance already exists).
	ErrConflict = errors.New("conflict")
)

// Release statuses as stored. They match the engine's ReleaseStatus values.
const (
	StatusPending    = "pending"
	StatusActive     = "active"
	StatusSuperseded = "superseded"
	StatusFailed     = "failed"
)

// Operation statuses.
const (
	OpRunning     = "running"
	OpDone        = "done"
	OpFailed      = "failed"
	OpInterrupted = "interrupted"
)

// Instance is an installed instance.
type Instance struct {
	Name     string
	Identity stack.Identity
	Runtime  string
	// Dir is the project directory of the last deploy.
	Dir string
	// Stopped is set by `down`: the instance is kept but nothing runs.
	Stopped bool
	Created time.Time
	Updated time.Time
	// Active is the number of the active release, 0 while there is none.
	// Instance and Instances fill it (in the same query); PutInstance
	// ignores it.
	Active int
}

// RemovedInstance is an instance removed without a purge whose runtime
// kept its volumes: enough to find them again (by identity, on its
// runtime) and delete them later.
type RemovedInstance struct {
	Name     string
	Identity stack.Identity
	Runtime  string
	// Dir is the project directory of the instance's last deploy.
	Dir     string
	Removed time.Time
}

// Release is one numbered, immutable release. Only Status, Error and
// Activated change after it is written.
type Release struct {
	Instance string
	Number   int
	Status   string
	Created  time.Time
	Runtime  string
	// Model is the resolved desired-state model as JSON; Resolved is the
	// merged Compose document it came from.
	Model    []byte
	Resolved []byte
	Hashes   map[string]string
	Images   map[string]string
	// Secrets maps each sealed secret the release runs with to its
	// version (SecretVersion.Version); values are kept apart, sealed.
	Secrets map[string]string
	Cause   string
	Error   string
	// Activated is when the release last became active (its switch-over);
	// zero if it never did.
	Activated time.Time
}

// SecretVersion is one value of an instance's sealed secret. Value is
// plaintext in memory only: the store keeps it sealed with the master key.
type SecretVersion struct {
	Instance string
	Name     string
	// Version is derived from the value with a key only the master key
	// gives (a short hex MAC): it changes when the value changes and tells
	// nothing about it.
	Version string
	// Source is where the value came from: the sealed file, relative to
	// the project, or SourceGenerated.
	Source  string
	Value   []byte
	Created time.Time
}

// SourceGenerated is the Source of a value the platform generated.
const SourceGenerated = "generated"

// Operation is the record of one engine operation on an instance. At most
// one operation per instance is running at a time.
type Operation struct {
	ID       int64
	Instance string
	// Kind is the verb: "up", "rollback", "promote", "restart", "down", "remove".
	Kind string
	// Owner identifies the engine that runs it, so a restarted daemon can tell
	// its own operations from stale ones.
	Owner string
	// Release is the pending release the operation creates, if any.
	Release  int
	Status   string
	Started  time.Time
	Finished time.Time
	Error    string
}

// Switch is the atomic change a successful deploy makes: the new release
// becomes active, the previously active one superseded, and the instance's
// replica handles are replaced by Handles.
type Switch struct {
	Instance string
	Release  int
	Handles  []runtime.Handle
	At       time.Time
}

// Store is the control plane's state. Every method is safe for concurrent
// use; multi-row changes are atomic.
type Store interface {
	// PutInstance creates or updates an instance (keeping its Created time).
	PutInstance(ctx context.Context, in Instance) error
	// Instance returns one instance; ErrNotFound if unknown.
	Instance(ctx context.Context, name string) (Instance, error)
	// Instances lists every instance, by name.
	Instances(ctx context.Context) ([]Instance, error)
	// DeleteInstance deletes an instance with its releases, handles and
	// operation records; ErrNotFound if unknown.
	DeleteInstance(ctx context.Context, name string) error

	// CreateRelease writes a new release numbered one past the instance's
	// highest release (from 1) and returns it with its number.
	CreateRelease(ctx context.Context, r Release) (Release, error)
	// Release returns one release; ErrNotFound if unknown.
	Release(ctx context.Context, instance string, number int) (Release, error)
	// Releases lists an instance's releases, newest first.
	Releases(ctx context.Context, instance string) ([]Release, error)
	// ActiveRelease returns the active release; ErrNotFound if none.
	ActiveRelease(ctx context.Context, instance string) (Release, error)
	// FailRelease marks a pending release failed with the reason;
	// ErrConflict if it is not pending.
	FailRelease(ctx context.Context, instance string, number int, reason string) error
	// SwitchRelease applies sw in one transaction; ErrConflict if the
	// release is not pending.
	SwitchRelease(ctx context.Context, sw Switch) error

	// Handles returns the instance's replica handles, by replica name.
	Handles(ctx context.Context, instance string) ([]runtime.Handle, error)
	// ReplaceHandles replaces the instance's handles in one transaction.
	ReplaceHandles(ctx context.Context, instance string, handles []runtime.Handle) error
	// KeepHandles records replicas of a failed release that stay (stopped,
	// with their logs and exit state) until the next successful release or
	// a prune; a replica already kept is recorded again.
	KeepHandles(ctx context.Context, instance string, handles []runtime.Handle) error
	// KeptHandles returns the kept replicas of the instance, oldest release
	// first.
	KeptHandles(ctx context.Context, instance string) ([]runtime.Handle, error)
	// ForgetKeptHandles deletes the records of the named kept replicas;
	// names that are not kept are ignored.
	ForgetKeptHandles(ctx context.Context, instance string, replicas []string) error

	// BeginOperation records a running operation and returns it with its
	// ID; ErrConflict (wrapping a description of the running one) if another
	// operation is running on the instance.
	BeginOperation(ctx context.Context, op Operation) (Operation, error)
	// SetOperationRelease records the pending release an operation creates.
	SetOperationRelease(ctx context.Context, id int64, release int) error
	// FinishOperation ends a running operation with status and error text.
	FinishOperation(ctx context.Context, id int64, status, errText string, at time.Time) error
	// RunningOperations lists the operations still marked running, oldest first.
	RunningOperations(ctx context.Context) ([]Operation, error)

	// PutSecretVersion keeps a value of an instance's secret (sealed) and
	// returns it with its Version; storing a value already kept returns
	// the existing version.
	PutSecretVersion(ctx context.Context, v SecretVersion) (SecretVersion, error)
	// SecretVersion returns one version with its value; ErrNotFound if
	// the store has none such.
	SecretVersion(ctx context.Context, instance, name, version string) (SecretVersion, error)
	// LatestSecretVersion returns the newest version of the secret that
	// came from source (e.g. SourceGenerated); ErrNotFound if none.
	LatestSecretVersion(ctx context.Context, instance, name, source string) (SecretVersion, error)
	// DeleteSecretVersions deletes every kept value of the instance's
	// secrets (a purge); the instance need not exist.
	DeleteSecretVersions(ctx context.Context, instance string) error

	// PutRemovedInstance records (or replaces) a removed instance whose
	// volumes were kept.
	PutRemovedInstance(ctx context.Context, r RemovedInstance) error
	// RemovedInstances lists the removed instances whose volumes were
	// kept, by name.
	RemovedInstances(ctx context.Context) ([]RemovedInstance, error)
	// DeleteRemovedInstance forgets a removed instance (its volumes were
	// deleted); forgetting an unknown name is not an error.
	DeleteRemovedInstance(ctx context.Context, name string) error

	// Setting returns a setting's value; ErrNotFound if unset.
	Setting(ctx context.Context, key string) (string, error)
	// SetSetting sets a setting.
	SetSetting(ctx context.Context, key, value string) error
	// DeleteSetting unsets a setting; unsetting an unset key is not an error.
	DeleteSetting(ctx context.Context, key string) error

	// Close releases the store.
	Close() error
}
