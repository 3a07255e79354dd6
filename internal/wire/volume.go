package wire

import "time"

// VolumeState says whether the instance a volume belongs to is installed.
type VolumeState string

// Volume states.
const (
	// VolumeInUse: the instance is installed (running or down).
	VolumeInUse VolumeState = "in use"
	// VolumeKept: the instance was removed without --purge and its
	// volumes were kept; `quai rm --purge` or `quai volumes rm` deletes
	// them, `quai up` of the same instance uses them again.
	VolumeKept VolumeState = "kept"
)

// Volume is one volume the daemon's runtimes keep for an instance, as
// GET /api/v1/volumes lists it.
type Volume struct {
	Instance string      `json:"instance"`
	Identity Identity    `json:"identity"`
	Runtime  string      `json:"runtime"`
	Name     string      `json:"name"`
	State    VolumeState `json:"state"`
	// Bytes is the volume's size; -1 when the runtime cannot tell.
	Bytes int64 `json:"bytes"`
	// Removed is when the instance was removed (VolumeKept only).
	Removed time.Time `json:"removed,omitzero"`
	// Dir is the project directory of the instance's last deploy.
	Dir string `json:"dir,omitempty"`
}

// VolumeList is GET /api/v1/volumes: the volumes, by instance then name.
// Errors name the runtimes that could not be asked (their volumes are
// missing from the list).
type VolumeList struct {
	Volumes []Volume `json:"volumes"`
	Errors  []string `json:"errors,omitempty"`
}

// VolumesInstance is the query parameter of GET /api/v1/volumes that
// lists one instance's volumes.
const VolumesInstance = "instance"
