package wire

import "time"

// Backup run statuses (BackupRun.Status, Drill.Status).
const (
	BackupRunning     = "running"
	BackupDone        = "done"
	BackupFailed      = "failed"
	BackupInterrupted = "interrupted"
	// BackupPruned: retention deleted the run's snapshot.
	BackupPruned = "pruned"
)

// Backup triggers (BackupRun.Trigger).
const (
	TriggerManual   = "manual"
	TriggerSchedule = "schedule"
	// TriggerSafety is the snapshot a restore takes of what it replaces.
	TriggerSafety = "safety"
)

// BackupProgress rides on progress events of a backup or restore.
type BackupProgress struct {
	Bytes int64 `json:"bytes"`
	Files int64 `json:"files,omitempty"`
	// Added is what the repository did not hold yet (after deduplication).
	Added int64 `json:"added,omitempty"`
	// Rate is bytes per second.
	Rate float64       `json:"rate,omitempty"`
	ETA  time.Duration `json:"eta,omitempty"`
}

// BackupRun is one snapshot attempt of one service (`quai backup ls`).
type BackupRun struct {
	ID       int64  `json:"id"`
	Instance string `json:"instance"`
	Service  string `json:"service"`
	Kind     string `json:"kind"`
	Trigger  string `json:"trigger,omitempty"`
	Snapshot string `json:"snapshot,omitempty"`
	Status   string `json:"status"`
	Error    string `json:"error,omitempty"`
	// Bytes is the snapshot's size, Added what it added to the repository.
	Bytes    int64         `json:"bytes"`
	Added    int64         `json:"added"`
	Files    int64         `json:"files,omitempty"`
	Duration time.Duration `json:"duration"`
	// Verified is when a verify last re-read it without error.
	Verified    time.Time `json:"verified,omitzero"`
	VerifyError string    `json:"verify_error,omitempty"`
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished,omitzero"`
}

// Drill is one restore drill: the latest snapshots restored into a
// throw-away instance and checked.
type Drill struct {
	ID       int64  `json:"id"`
	Instance string `json:"instance"`
	// Name is the throw-away instance.
	Name   string `json:"name,omitempty"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Report lists what was checked, one finding a line.
	Report   string    `json:"report,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
}

// BackupState is an instance's backup health in `quai ls` and `quai status`.
type BackupState struct {
	// Last is the newest backup run of any service; LastSuccess when one last succeeded.
	Last        *BackupRun `json:"last,omitempty"`
	LastSuccess time.Time  `json:"last_success,omitzero"`
	// Missed names the services whose scheduled backup has not succeeded
	// within twice its interval.
	Missed []string `json:"missed,omitempty"`
	// VerifyFailed lists the kept snapshots (of any trigger) whose last
	// verify failed: they would not restore.
	VerifyFailed []string `json:"verify_failed,omitempty"`
	Drill        *Drill   `json:"drill,omitempty"`
}

// Failing reports whether the state needs attention: a failed last backup,
// a missed one, a snapshot that failed its verify, or a failed drill.
func (s *BackupState) Failing() bool {
	if s == nil {
		return false
	}
	return (s.Last != nil && s.Last.Status != BackupDone && s.Last.Status != BackupRunning && s.Last.Status != BackupPruned) ||
		len(s.Missed) > 0 || len(s.VerifyFailed) > 0 || (s.Drill != nil && s.Drill.Status != BackupDone && s.Drill.Status != BackupRunning)
}

// BackupList is GET /api/v1/backups: runs and drills, newest first.
type BackupList struct {
	Runs   []BackupRun `json:"runs"`
	Drills []Drill     `json:"drills"`
}

// BackupRequest is the body of POST /api/v1/instances/{name}/backup.
type BackupRequest struct {
	// Service backs up one service; empty backs up every service with x-quai.backup.
	Service string `json:"service,omitempty"`
}

// RestoreRequest is the body of POST /api/v1/instances/{name}/restore.
type RestoreRequest struct {
	Snapshot string `json:"snapshot"`
	// Service must match the snapshot's service when set.
	Service string `json:"service,omitempty"`
	// Into restores into another installed instance (a clone); empty
	// restores into the instance the snapshot was taken of.
	Into string `json:"into,omitempty"`
}

// VerifyRequest is the body of POST /api/v1/backups/verify.
type VerifyRequest struct {
	// Instance limits the verify to one instance's snapshots; empty: all.
	Instance string `json:"instance,omitempty"`
	// All verifies every snapshot rather than each service's newest.
	All bool `json:"all,omitempty"`
	// Percent of the data re-read (0 = 100).
	Percent float64 `json:"percent,omitempty"`
}

// BackupPruneRequest is the body of POST /api/v1/backups/prune.
type BackupPruneRequest struct {
	Instance string `json:"instance,omitempty"`
	DryRun   bool   `json:"dry_run,omitempty"`
}

// BackupForgetRequest is the body of POST /api/v1/backups/forget: delete
// every backup of an instance (`quai rm --purge --purge-backups`).
type BackupForgetRequest struct {
	Instance string `json:"instance"`
}

// CloneRequest is the body of POST /api/v1/clone: install Model as a new
// instance with the data of the snapshots (`quai up --from-backup`).
type CloneRequest struct {
	ModelPayload
	Runtime   string   `json:"runtime,omitempty"`
	Snapshots []string `json:"snapshots"`
}

// BackupTarget is GET/PUT /api/v1/backups/target/{org}: where an
// organization's repository lives. Credentials go in, never out.
type BackupTarget struct {
	Org       string `json:"org"`
	URL       string `json:"url"`
	AccessKey string `json:"access_key,omitempty"`
	SecretKey string `json:"secret_key,omitempty"`
}

// BackupKey is GET /api/v1/backups/key/{org}: the repository password,
// which with the target restores the organization's backups on a new host.
type BackupKey struct {
	Org      string `json:"org"`
	Target   string `json:"target"`
	Password string `json:"password"`
}

// BackupKeyImport is the body of PUT /api/v1/backups/keys/{org}: a
// password exported from another host, so this one opens its repository.
type BackupKeyImport struct {
	Password string `json:"password"`
	// Replace allows replacing a different password this host holds.
	Replace bool `json:"replace,omitempty"`
}

// SystemBackup is POST /api/v1/backups/system: a copy of quai's own state.
type SystemBackup struct {
	// Dir is where the copy was written (the store and the sealed keys).
	Dir   string   `json:"dir"`
	Files []string `json:"files"`
}
