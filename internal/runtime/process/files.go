package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/quai-dev/quai/internal/fsutil"
	"github.com/quai-dev/quai/internal/stack"
)

// Files of a replica directory (DataDir/instances/<slug>/replicas/<replica>).
const (
	specFile  = "spec.json" // written by the runtime before the supervisor starts
	stateFile = "state"     // written by the supervisor on every change
	stopFile  = "stop.json" // written by the runtime just before it signals a stop
	shimLog   = "supervisor.log"
	// legacyLogsDir/legacyAppLog is where replicas started by an older
	// quai write their output; see logs.go for where it goes now.
	legacyLogsDir = "logs"
	legacyAppLog  = "app.log"
	secretDir     = "secrets"
	// secretEnvDir, in a replica's run directory, holds one file per
	// secret environment variable.
	secretEnvDir = "env"
	runDir       = "run"
)

// specVersion is the layout version of spec.json and state.
const specVersion = 1

// shimSpec is everything the supervisor, Exec and the health checker need
// to know about a replica. It lives on disk so that a restarted daemon and
// the detached supervisor read the same thing.
type shimSpec struct {
	Version int `json:"version"`
	// Meta is what a Handle is rebuilt from (List).
	Meta specMeta `json:"meta"`

	Argv []string `json:"argv"`
	Dir  string   `json:"dir"`
	Env  []string `json:"env"`
	// Credential, when set, is the user the app, its health checks and
	// exec commands run as: the service's `user:`, or a database server's
	// system user when the daemon runs as root.
	Credential *credential `json:"credential,omitempty"`
	Port       int         `json:"port,omitempty"`
	// Kind is "app" or a well-known database ("postgres", "redis", "mysql").
	Kind string `json:"kind"`

	Restart    restartPolicy `json:"restart"`
	StopSignal int           `json:"stop_signal"`
	// StopGrace is used when the supervisor is signalled without a stop file
	// (a host shutdown, a user's kill).
	StopGrace  time.Duration `json:"stop_grace"`
	BackoffMin time.Duration `json:"backoff_min"`
	BackoffMax time.Duration `json:"backoff_max"`
	LogMaxSize int64         `json:"log_max_size"`
	LogKeep    int           `json:"log_keep"`
	// LogPath is the replica's current log file, outside its directory
	// (see logs.go); empty in specs of an older quai, which logged to
	// logs/app.log in the replica directory.
	LogPath string `json:"log_path,omitempty"`

	Health healthSpec `json:"health"`
	// Cleanup lists paths outside the replica directory that Remove deletes
	// (a short unix socket directory, the replica's run directory).
	Cleanup []string `json:"cleanup,omitempty"`
	// RunDir is the replica's directory under Options.RunDir: its secret
	// files (secrets/), the values of its secret environment variables
	// (env/<VAR>, which the supervisor adds to Env at every start, so they
	// are never written here) and a database's initialisation files.
	RunDir string `json:"run_dir,omitempty"`
	// Mounts maps the targets of the service's volumes and tmpfs mounts to
	// the host directories that stand in for them (bind mounts are not
	// remapped), so that paths the stack names resolve on the host.
	Mounts map[string]string `json:"mounts,omitempty"`
	// Cgroup is the cgroup v2 directory the app starts in, which holds its
	// memory and cpu limits (cgroup.go); empty when it has none.
	Cgroup string `json:"cgroup,omitempty"`
}

type specMeta struct {
	Instance stack.Identity    `json:"instance"`
	Service  string            `json:"service"`
	Replica  string            `json:"replica"`
	Release  int               `json:"release"`
	Hash     string            `json:"hash"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// credential is a user a replica runs as: a database server's system user,
// or the service's `user:`.
type credential struct {
	User string `json:"user"`
	UID  uint32 `json:"uid"`
	GID  uint32 `json:"gid"`
	// Groups are the user's supplementary groups; none of the daemon's are
	// kept.
	Groups []uint32 `json:"groups,omitempty"`
	// Home is the user's home directory, for HOME.
	Home string `json:"home,omitempty"`
}

func (c *credential) sys() *syscall.Credential {
	if c == nil {
		return nil
	}
	return &syscall.Credential{Uid: c.UID, Gid: c.GID, Groups: append([]uint32{}, c.Groups...)}
}

// Supervisor phases, as written to the state file.
const (
	phaseStarting   = "starting"   // the supervisor runs, the app is not started yet
	phaseRunning    = "running"    // the app runs
	phaseRestarting = "restarting" // the app exited and waits for its backoff
	phaseStopping   = "stopping"   // a stop was requested, the app is being stopped
	phaseStopped    = "stopped"    // stopped on request; the supervisor has exited
	phaseExited     = "exited"     // the app exited and the policy says no restart
	phaseFailed     = "failed"     // the app could not be started at all
)

// shimState is the supervisor's state file.
type shimState struct {
	Version   int    `json:"version"`
	Phase     string `json:"phase"`
	ShimPid   int    `json:"shim_pid"`
	ShimStart uint64 `json:"shim_start"`
	// Origin is the handle ID of the replica's first supervisor when this
	// one replaced a supervisor that died, so that handles made before
	// still name the replica.
	Origin   string `json:"origin,omitempty"`
	AppPid   int    `json:"app_pid,omitempty"`
	AppStart uint64 `json:"app_start,omitempty"`
	Restarts int    `json:"restarts"`
	// Started is when the current (or last) app process started.
	Started  time.Time `json:"started,omitzero"`
	ExitCode int       `json:"exit_code,omitempty"`
	Message  string    `json:"message,omitempty"`
	Updated  time.Time `json:"updated"`
}

type stopRequest struct {
	Grace time.Duration `json:"grace"`
}

// writeJSON writes v to path atomically (temp file + rename) so that a
// reader never sees half a file, even if the writer dies mid-way.
func writeJSON(path string, v any, perm os.FileMode) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFile(path, append(b, '\n'), perm)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

func readSpec(dir string) (*shimSpec, error) {
	var s shimSpec
	if err := readJSON(filepath.Join(dir, specFile), &s); err != nil {
		return nil, err
	}
	if s.Version > specVersion {
		return nil, fmt.Errorf("%s has layout version %d, newer than this quai understands (%d): upgrade quai", filepath.Join(dir, specFile), s.Version, specVersion)
	}
	return &s, nil
}

func readState(dir string) (*shimState, error) {
	var s shimState
	if err := readJSON(filepath.Join(dir, stateFile), &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// isNotExist reports whether err means a file is absent.
func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }
