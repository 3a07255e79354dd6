// Package runtime defines the contract between the engine and the places
// replicas run (local processes, a Docker Engine, a Kubernetes cluster): a
// small core every runtime implements (Runtime), one of two deployment
// capabilities (ReplicaRunner or Applier), optional capability interfaces
// detected by type assertion, the labels everything a runtime creates
// carries, and the errors every runtime reports the same way.
//
// # Adding a runtime
//
// A runtime (Nomad, Podman, a remote agent...) is a package under
// internal/runtime that implements Runtime and exactly one of:
//
//   - ReplicaRunner, when the runtime starts and stops single replicas
//     (process, docker). The engine then deploys with its replicas
//     strategy: it starts new replicas, waits until they are healthy,
//     switches quai's proxy to them, drains and stops the old ones, and
//     undoes everything if one fails. It persists each replica's Handle
//     and hands it back to Reattach when the daemon restarts.
//   - Applier, when the runtime converges whole instances itself
//     (kubernetes). The engine then deploys with its declarative strategy:
//     it applies each release and waits for the rollout; routing is the
//     runtime's own, and State is the truth about replicas.
//
// engine.New refuses a runtime that implements neither or both. Logs,
// exec, volumes, images, rolling restarts, copying files for backups and
// saying before anything starts what of a stack it will ignore, change or
// refuse are optional (Logger, InstanceLogger, Execer, VolumeManager,
// ImageManager, Restarter, PathCopier, Assessor), and
// Capabilities must say which of Logs, Exec and Volumes it has. End the
// implementation with compile-time checks of what it implements
// (var _ runtime.ReplicaRunner = (*Runtime)(nil)), never stub a method with
// ErrUnsupported to satisfy an interface, and run the matching half of the
// conformance suite (runtimetest.RunReplicaRunner or
// runtimetest.RunApplier) against a real backend in the runtime's tests.
// Finally, build it in internal/daemon and give it a name users can type.
//
// It may import internal/stack (the desired-state model) and nothing else of
// quai; runtimes never import the engine, the store, the proxy or the API.
package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/quai-dev/quai/internal/registry"
	"github.com/quai-dev/quai/internal/stack"
)

// Errors every runtime returns (wrapped with %w) so the engine and the API
// can react without knowing which runtime produced them.
var (
	// ErrNotFound: the replica, volume or instance is gone.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: the engine cannot be reached (daemon down, socket missing).
	ErrUnavailable = errors.New("runtime unavailable")
	// ErrMissingDependency: something the host must provide is missing
	// (a database server binary, an image); the message says what to install.
	ErrMissingDependency = errors.New("missing dependency")
	// ErrUnsupported: the runtime cannot do this (see Capabilities).
	ErrUnsupported = errors.New("not supported by this runtime")
)

// Labels every replica carries (ReplicaLabels), by which runtimes find what
// they created again.
const (
	LabelOrg      = "quai.org"
	LabelProject  = "quai.project"
	LabelEnv      = "quai.env"
	LabelInstance = "quai.instance"
	LabelService  = "quai.service"
	LabelReplica  = "quai.replica"
	LabelRelease  = "quai.release"
	LabelHash     = "quai.hash"
	// LabelDaemon is the identity of the daemon that created the object
	// (its data directory's), so that daemons sharing an engine or cluster
	// clean up and prune only their own.
	LabelDaemon = "quai.daemon"
)

// InstanceLabels are the labels of everything a runtime creates for the
// instance (networks, volumes, images, replicas); an empty org is the
// default one, so that every instance is found by the same four labels.
func InstanceLabels(id stack.Identity) map[string]string {
	return map[string]string{
		LabelOrg: id.OrgOrDefault(), LabelProject: id.Project, LabelEnv: id.Env, LabelInstance: id.Name(),
	}
}

// ReplicaLabels are the labels of everything a runtime creates for the
// replica of spec: spec.Labels, then the instance's, service's, replica's,
// release's and config hash's, which win.
func ReplicaLabels(spec ReplicaSpec) map[string]string {
	out := maps.Clone(spec.Labels)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, InstanceLabels(spec.Instance))
	out[LabelReplica] = spec.Replica
	out[LabelRelease] = strconv.Itoa(spec.Release)
	if spec.Service != nil {
		out[LabelService] = spec.Service.Name
		out[LabelHash] = spec.Service.Hash
	}
	return out
}

// IsImageID reports whether ref is a content-addressed image id
// (sha256: and 64 lowercase hex digits), which names exactly one image and
// can be neither pulled nor rebuilt.
func IsImageID(ref string) bool {
	hexPart, ok := strings.CutPrefix(ref, "sha256:")
	return ok && len(hexPart) == 64 && strings.Trim(hexPart, "0123456789abcdef") == ""
}

// HandleVersion is the version of the Handle layout. A daemon that reads a
// handle with a newer version refuses to re-attach rather than guess.
const HandleVersion = 1

// Handle identifies one running replica. The engine persists it in the store
// so that a restarted daemon re-attaches (Runtime.Reattach) instead of
// starting the replica again.
type Handle struct {
	Version  int            `json:"version"`
	Runtime  string         `json:"runtime"`
	Instance stack.Identity `json:"instance"`
	Service  string         `json:"service"`
	// Replica is unique within the instance, e.g. "web-r3-1".
	Replica string `json:"replica"`
	Release int    `json:"release"`
	Hash    string `json:"hash"`
	// ID is the runtime's own id (a supervisor pid and start time, a container id).
	ID string `json:"id"`
	// Address is host:port where the replica serves its first port, reachable
	// from the daemon (and so from quai's proxy); empty if it serves nothing.
	Address string `json:"address,omitempty"`
	// Data is runtime-private state needed to re-attach.
	Data json.RawMessage `json:"data,omitempty"`
}

// ReplicaSpec is everything a runtime needs to start one replica.
type ReplicaSpec struct {
	Instance stack.Identity
	Service  *stack.Service
	Release  int
	// Index is the replica's ordinal within the service, from 1.
	Index int
	// Replica is the unique replica name (see Handle.Replica).
	Replica string
	// ProjectDir is the absolute project directory (relative paths resolve here).
	ProjectDir string
	// Env is added to the service's environment (service discovery, PORT, ...).
	Env map[string]string
	// Secrets maps secret name to its value; runtimes expose them as files.
	Secrets map[string][]byte
	// SecretEnv maps an environment variable to a secret's value
	// (x-quai.secret_env). Runtimes set it in the replica's environment
	// and never write it where quai keeps state (the data dir): the
	// process runtime reads it from the memory-backed run dir at each
	// (re)start.
	SecretEnv map[string][]byte
	// Labels are added to everything the runtime creates for the replica.
	Labels map[string]string
}

// State is a replica's lifecycle state.
type State string

// States.
const (
	StateStarting State = "starting"
	StateRunning  State = "running"
	StateExited   State = "exited"
	StateStopped  State = "stopped"
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

// Status is what Inspect reports about one replica.
type Status struct {
	State  State  `json:"state"`
	Health Health `json:"health"`
	// Restarts counts the restarts the runtime made or decided: one that
	// waits out its backoff counts already (as Docker's RestartCount), so
	// that the crashes of a replica are Restarts, plus one when it exited
	// for good.
	Restarts int       `json:"restarts"`
	Started  time.Time `json:"started,omitzero"`
	ExitCode int       `json:"exit_code,omitempty"`
	// Message explains a failure (last health-check output, exit reason).
	Message string `json:"message,omitempty"`
	// CPUPercent and MemoryBytes are current usage when the runtime knows them.
	CPUPercent  float64 `json:"cpu_percent,omitempty"`
	MemoryBytes int64   `json:"memory_bytes,omitempty"`
}

// Healthy reports whether the replica may receive traffic.
func (s Status) Healthy() bool {
	return s.State == StateRunning && (s.Health == HealthHealthy || s.Health == HealthNone)
}

// Capabilities says what a runtime can do beyond its core and deployment
// capability.
type Capabilities struct {
	// Logs, Exec and Volumes mirror the optional interfaces below.
	Logs    bool `json:"logs"`
	Exec    bool `json:"exec"`
	Volumes bool `json:"volumes"`
	// Limits: CPU/memory limits are enforced (not just recorded).
	Limits bool `json:"limits"`
	// Isolation: instances get their own network.
	Isolation bool `json:"isolation"`
}

// Runtime is the core every runtime implements, whichever way it deploys.
type Runtime interface {
	// Name is the runtime's name as users type it ("process", "docker").
	Name() string
	// Capabilities is constant for the runtime's lifetime.
	Capabilities() Capabilities
	// Inspect reports the replica's current state; ErrNotFound if it is gone.
	Inspect(ctx context.Context, h Handle) (Status, error)
	// List returns the handles of every replica the runtime knows for the
	// instance (found by labels or on disk), including ones no store
	// remembers, so orphans can be cleaned. An instance that never ran has
	// none: an empty list, no error.
	List(ctx context.Context, id stack.Identity) ([]Handle, error)
	// Close releases the runtime's resources; running replicas keep running.
	Close() error
}

// ReplicaRunner is implemented by runtimes that start and stop replicas one
// by one (process, docker). The engine deploys on them with its replicas
// strategy: start the new replicas, wait until they are healthy, switch
// the proxy, drain and stop the old ones.
type ReplicaRunner interface {
	Runtime
	// Start starts one replica and returns once it runs (not necessarily
	// healthy: poll Inspect). Restart policy and health checks are the
	// runtime's job from then on. It is called by the engine during execute.
	Start(ctx context.Context, spec ReplicaSpec) (Handle, error)
	// Stop asks the replica to stop (SIGTERM or equivalent), waits up to
	// grace, then kills it. Stopping a stopped replica is not an error.
	Stop(ctx context.Context, h Handle, grace time.Duration) error
	// Remove deletes what Start created for the replica, never volumes.
	Remove(ctx context.Context, h Handle) error
	// Reattach verifies that a persisted handle still describes a live
	// replica and resumes watching it (health checks, restarts), without
	// restarting it. ErrNotFound if it is gone. A restarted daemon calls
	// it for every handle its store recorded.
	Reattach(ctx context.Context, h Handle) error
}

// LogOptions selects log lines.
type LogOptions struct {
	Follow bool
	// Since and Until, when set, keep the lines recorded at or after Since
	// and before Until.
	Since time.Time
	Until time.Time
	// Tail is the number of last lines to show; 0 means all.
	Tail int
	// Timestamps starts every line with the time the runtime recorded it,
	// in RFC 3339 with nanoseconds, and a space (as `docker logs -t`); the
	// engine asks for them to merge replicas in time order.
	Timestamps bool
	// Grep keeps the lines matching this regular expression (RE2 syntax).
	// The engine applies it, before Tail, and hands Loggers the options
	// without it, so a Logger never sees it set.
	Grep string
	// Release selects the replicas of one release, a failed one's kept replicas included (0: the running ones); the engine reads it, runtimes ignore it.
	Release int
}

// Logger is implemented by runtimes that capture replica output.
type Logger interface {
	// Logs streams the replica's combined stdout/stderr, one line per line.
	// It also reads the handles KeptLogs returns.
	Logs(ctx context.Context, h Handle, opts LogOptions) (io.ReadCloser, error)
}

// LogKeeper is implemented by Loggers that keep a replica's logs after the
// replica was removed (a restart, a new release), within a size limit per
// service, so that `quai logs` still shows what came before.
type LogKeeper interface {
	// KeptLogs returns a handle for each removed replica of the instance
	// whose logs are still kept (Instance, Service, Replica and Release
	// set), for Logs to read. Replicas that exist are not in it.
	KeptLogs(ctx context.Context, id stack.Identity) ([]Handle, error)
}

// HealthUserAgent is the User-Agent of the HTTP health probes quai makes,
// so that an app can tell them apart (and leave them out of its access log).
const HealthUserAgent = "quai-health"

// ExecOptions describes a command to run inside a replica.
type ExecOptions struct {
	Cmd    []string
	TTY    bool
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Resize delivers terminal sizes while a TTY session runs.
	Resize <-chan TermSize
}

// TermSize is a terminal size.
type TermSize struct{ Rows, Cols uint16 }

// Execer is implemented by runtimes that can run commands in a replica.
type Execer interface {
	// Exec runs the command in the replica's environment and returns its exit code.
	Exec(ctx context.Context, h Handle, opts ExecOptions) (int, error)
}

// PathCopier is implemented by runtimes that can read and write a
// replica's files, for backups of its volumes and paths. Paths are as the
// replica sees them (a mount target such as /var/lib/data). Tar streams
// name their entries relative to the path ("a/b.txt"), never absolute and
// never with "..".
type PathCopier interface {
	// CopyFrom writes the directory path of the replica, and everything
	// under it, to w as a tar stream.
	CopyFrom(ctx context.Context, h Handle, path string, w io.Writer) error
	// CopyTo extracts the tar stream r into the directory path of the
	// replica, creating it if needed and overwriting the files the stream
	// holds; files it does not hold are left as they are.
	CopyTo(ctx context.Context, h Handle, path string, r io.Reader) error
	// HostPath returns the directory on the daemon's host that holds path
	// of the replica, when there is one the daemon can read directly (the
	// process runtime's volumes, a local Docker Engine's volumes).
	HostPath(ctx context.Context, h Handle, path string) (string, bool)
}

// VolumeManager is implemented by runtimes that own the instance's volumes.
type VolumeManager interface {
	// Volumes lists the instance's volumes.
	Volumes(ctx context.Context, id stack.Identity) ([]string, error)
	// RemoveVolumes deletes the instance's volumes and data. Called only
	// after the user confirmed a purge.
	RemoveVolumes(ctx context.Context, id stack.Identity) error
}

// VolumeSizer is implemented by volume managers that can tell how much
// space each of an instance's volumes takes, so that a purge says what it
// deletes.
type VolumeSizer interface {
	// VolumeSizes maps the instance's volumes (as Volumes names them) to
	// their size in bytes; a volume it cannot measure is left out.
	VolumeSizes(ctx context.Context, id stack.Identity) (map[string]int64, error)
}

// ImageManager is implemented by runtimes that run replicas from images
// they build or pull (Docker), so that a release pins the images it ran and
// a rollback starts them again without rebuilding or pulling.
type ImageManager interface {
	// PrepareImage makes the image spec.Service runs available, building
	// it (`build:`) or pulling it, reports what it does through progress
	// (which may be nil), and returns the image's content-addressed id
	// (sha256:...). A service whose Image is such an id is only checked:
	// it is never pulled nor rebuilt, and a missing one is
	// ErrMissingDependency. The engine calls it before it starts the
	// service's replicas, then starts them from the id it returned.
	PrepareImage(ctx context.Context, spec ReplicaSpec, progress func(msg string)) (string, error)
	// PruneImages removes the images the runtime built or pulled that no
	// entry of keep (image ids or references) names and no container
	// uses, and returns them; with dryRun it only returns them.
	PruneImages(ctx context.Context, keep []string, dryRun bool) ([]PrunedImage, error)
}

// ImagePusher is implemented by image runtimes that can push an image
// they hold to a registry and tell the registry digest of an image they
// pulled, so that a release pins repo@sha256:digest references which any
// runtime can pull. The engine calls it after PrepareImage, for stacks that
// set x-quai.registry, before anything of the release starts.
type ImagePusher interface {
	// PushImage tags the image id as each of refs (repository:tag, one
	// repository) and pushes them with auth, reporting layers and bytes
	// through progress (which may be nil). It returns the digest
	// (sha256:...) of the manifest the registry stored. An error names the
	// registry and what it answered.
	PushImage(ctx context.Context, id string, refs []string, auth registry.Auth, progress func(msg string)) (string, error)
	// RepoDigest returns the repo@sha256:digest reference under which the
	// image ref was pulled from its own repository, or "" when the image
	// came from no registry (built, or tagged locally).
	RepoDigest(ctx context.Context, ref string) (string, error)
}

// PrunedImage is an image PruneImages removed, or would remove.
type PrunedImage struct {
	ID   string   `json:"id"`
	Tags []string `json:"tags,omitempty"`
	// Size is the image's size; layers it shares with kept images are not
	// freed.
	Size int64 `json:"size"`
}

// ErrRolloutFailed is returned by Applier.Apply when the new version never
// became ready; the message names the service, the pod and its reason
// (ErrImagePull, CrashLoopBackOff, Unschedulable...). What served before
// keeps serving.
var ErrRolloutFailed = errors.New("rollout failed")

// ApplyOptions are the inputs of Applier.Apply besides the model.
type ApplyOptions struct {
	// Release is the number recorded on what the runtime applies.
	Release int
	// Secrets maps a stack secret's name to its value (file secrets and
	// those services receive through x-quai.secret_env); secrets without a
	// value here must already exist in the cluster.
	Secrets map[string][]byte
	// DryRun validates every object with the cluster (server-side dry run)
	// without changing anything or waiting.
	DryRun bool
	// Emit receives progress lines ("api: 1/2 ready"); nil discards them.
	Emit func(msg string)
}

// ServiceState is one service of an applied instance.
type ServiceState struct {
	Service string `json:"service"`
	// Desired, Ready and Updated count replicas: declared, ready, and
	// running the newest declared version.
	Desired int `json:"desired"`
	Ready   int `json:"ready"`
	Updated int `json:"updated"`
	// Release is the release that last changed the service.
	Release  int            `json:"release,omitempty"`
	Replicas []ReplicaState `json:"replicas"`
}

// ReplicaState is one replica (a pod) of an applied instance.
type ReplicaState struct {
	Handle Handle `json:"handle"`
	// Node is where the replica runs.
	Node   string `json:"node,omitempty"`
	Status Status `json:"status"`
}

// Applier is implemented by declarative runtimes (Kubernetes): they take a
// whole instance and converge it themselves, where a ReplicaRunner has the
// engine start and stop replicas one by one. The engine deploys on them
// with its declarative strategy: it applies each release and waits for the
// rollout; the store keeps no replica handles, State is the truth.
type Applier interface {
	Runtime
	// Apply makes the instance run m: it creates or updates everything m
	// declares, removes what the instance had but m no longer declares
	// (never data volumes), and waits until every service has rolled out.
	// A rollout that fails returns ErrRolloutFailed, with the previous
	// version still serving; rolling back is applying an earlier model.
	Apply(ctx context.Context, m *stack.Model, opts ApplyOptions) error
	// State reports every service of the instance with its replicas;
	// ErrNotFound if nothing of the instance exists.
	State(ctx context.Context, id stack.Identity) ([]ServiceState, error)
	// Down scales every service of the instance to zero, keeping
	// everything else (configuration, volumes); Apply brings it back.
	Down(ctx context.Context, id stack.Identity) error
	// Delete removes the instance; its volumes too only when purge is set.
	Delete(ctx context.Context, id stack.Identity, purge bool) error
}

// InstanceLogger is implemented by runtimes that can stream the logs of
// every replica of an instance at once.
type InstanceLogger interface {
	// InstanceLogs streams every replica's lines, each prefixed with the
	// replica's name and " | ".
	InstanceLogs(ctx context.Context, id stack.Identity, opts LogOptions) (io.ReadCloser, error)
}

// Restarter is implemented by declarative runtimes that can replace the
// replicas of services with new ones of the same spec, one rolling step at
// a time (what `kubectl rollout restart` does), without a new release.
type Restarter interface {
	// Restart replaces the replicas of the named services of m (every
	// service when services is empty) and waits until they rolled out,
	// reporting progress through emit (which may be nil).
	Restart(ctx context.Context, m *stack.Model, services []string, emit func(msg string)) error
}
