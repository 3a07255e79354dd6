package stack

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
)

// hashVersion changes when what the hash covers changes, so that the change
// is deliberate: every service of every instance is then recreated once.
const hashVersion = "quai-service-v2"

// serviceHash is the first 12 hex digits of the SHA-256 of the service's
// settings, with project paths made relative to dir. It covers every field
// of Service except those that change without recreating a replica (the
// replica count, backup policy, lint suppressions, dependencies, the size
// class's name — its resources are covered — the stop grace period,
// which the engine gives when it stops a replica, and the update order), so a field added to
// Service later recreates replicas when it changes unless it is cleared here.
func serviceHash(s *Service, dir string) string {
	h := *s
	h.Replicas, h.Backup, h.Suppress, h.DependsOn, h.Size, h.Hash, h.LoadHash = 0, nil, nil, nil, "", "", ""
	h.StopGracePeriod, h.StopFirst = 0, false
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
	b, err := json.Marshal(struct {
		Version string   `json:"v"`
		Service *Service `json:"s"`
	}{hashVersion, &h})
	if err != nil {
		// A Service holds only strings, numbers, bools, maps and slices of those: this cannot fail.
		panic("stack: hash a service: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:12]
}
