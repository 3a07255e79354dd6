package stack

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
)

// hashVersion changes when what the hash covers changes, so that the change
// is deliberate: every service of every instance is then recreated once.
const hashVersion = "quai-service-v1"

// hashed is everything about a service that, when it changes, needs new
// replicas. It leaves out the replica count, routes, backup policy, lint
// settings and dependencies, which change without recreating anything.
type hashed struct {
	Version     string            `json:"v"`
	Image       string            `json:"image"`
	Build       *Build            `json:"build,omitempty"`
	Command     []string          `json:"command,omitempty"`
	Entrypoint  []string          `json:"entrypoint,omitempty"`
	Environment map[string]string `json:"environment,omitempty"`
	WorkingDir  string            `json:"working_dir,omitempty"`
	User        string            `json:"user,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Ports       []Port            `json:"ports,omitempty"`
	Expose      []int             `json:"expose,omitempty"`
	Mounts      []Mount           `json:"mounts,omitempty"`
	Secrets     []string          `json:"secrets,omitempty"`
	Healthcheck *Healthcheck      `json:"healthcheck,omitempty"`
	Privileged  bool              `json:"privileged,omitempty"`
	NetworkMode string            `json:"network_mode,omitempty"`
	Pid         string            `json:"pid,omitempty"`
	Ipc         string            `json:"ipc,omitempty"`
	CapAdd      []string          `json:"cap_add,omitempty"`
	CapDrop     []string          `json:"cap_drop,omitempty"`
	ReadOnly    bool              `json:"read_only,omitempty"`
	Restart     string            `json:"restart,omitempty"`
	Container   string            `json:"container_name,omitempty"`
	Resources   Resources         `json:"resources"`
	Process     *Process          `json:"process,omitempty"`
}

// serviceHash is the first 12 hex digits of the SHA-256 of the service's
// hashed settings, with project paths made relative to dir.
func serviceHash(s *Service, dir string) string {
	h := hashed{
		Version: hashVersion, Image: s.Image, Command: s.Command, Entrypoint: s.Entrypoint,
		Environment: s.Environment, WorkingDir: s.WorkingDir, User: s.User, Labels: s.Labels,
		Ports: s.Ports, Expose: s.Expose, Secrets: s.Secrets, Healthcheck: s.Healthcheck,
		Privileged: s.Privileged, NetworkMode: s.NetworkMode, Pid: s.Pid, Ipc: s.Ipc,
		CapAdd: s.CapAdd, CapDrop: s.CapDrop, ReadOnly: s.ReadOnly, Restart: s.Restart,
		Container: s.ContainerName, Resources: s.Resources,
	}
	if s.Build != nil {
		b := *s.Build
		b.Context = relTo(dir, b.Context)
		h.Build = &b
	}
	h.Mounts = slices.Clone(s.Mounts)
	for i := range h.Mounts {
		if h.Mounts[i].Type == MountBind {
			h.Mounts[i].Source = relTo(dir, h.Mounts[i].Source)
		}
	}
	if s.Process != nil {
		p := *s.Process
		p.Dir = relTo(dir, p.Dir)
		h.Process = &p
	}
	// encoding/json sorts map keys, so equal settings give equal bytes.
	b, err := json.Marshal(h)
	if err != nil {
		// Only plain strings, ints and bools are marshalled: this cannot fail.
		panic("stack: hash a service: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:12]
}
