package docker

import (
	"errors"
	"fmt"
	"maps"

	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// Labels of the runtime's own, beside the engine's (runtime.Label*) that
// every replica carries.
const (
	// LabelManaged marks objects the runtime created ("docker").
	LabelManaged = "quai.managed"
	// LabelAddress is the replica's Handle.Address, chosen before the
	// container exists.
	LabelAddress = "quai.address"
	// LabelHealthPath is the HTTP path the runtime probes.
	LabelHealthPath = "quai.health.path"
	// LabelHealthStart is the start period of the HTTP health check.
	LabelHealthStart = "quai.health.start"
	// LabelVolume is the stack's name of a named volume.
	LabelVolume = "quai.volume"
)

func networkName(id stack.Identity) string { return "quai-" + id.Slug() }

func containerName(id stack.Identity, replica string) string {
	return "quai-" + id.Slug() + "-" + replica
}

func volumeName(id stack.Identity, name string) string { return "quai-" + id.Slug() + "-" + name }

// instanceLabels are the labels of everything the runtime creates for an
// instance: the contract's (runtime.InstanceLabels), the runtime's mark and
// the daemon's identity.
func (r *Runtime) instanceLabels(id stack.Identity) map[string]string {
	out := runtime.InstanceLabels(id)
	out[LabelManaged] = Name
	out[runtime.LabelDaemon] = r.daemonID
	return out
}

// replicaLabels are the labels of a replica's container: the service's own,
// then the contract's (runtime.ReplicaLabels), then the runtime's, which win.
func (r *Runtime) replicaLabels(spec runtime.ReplicaSpec) map[string]string {
	out := maps.Clone(spec.Service.Labels)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, runtime.ReplicaLabels(spec))
	out[LabelManaged] = Name
	out[runtime.LabelDaemon] = r.daemonID
	return out
}

// instanceFilter selects the objects of one instance, whichever daemon
// made them: callers keep those the daemon may touch (mine).
func instanceFilter(id stack.Identity) client.Filters {
	return client.Filters{}.Add("label",
		LabelManaged+"="+Name, runtime.LabelOrg+"="+id.OrgOrDefault(), runtime.LabelProject+"="+id.Project, runtime.LabelEnv+"="+id.Env)
}

// ownFilter selects every object this daemon's runtime created, and no
// other daemon's: what orphan clean-up and image prune may remove.
func (r *Runtime) ownFilter() client.Filters {
	return client.Filters{}.Add("label", LabelManaged+"="+Name, runtime.LabelDaemon+"="+r.daemonID)
}

// managedFilter selects every object a quai docker runtime created, this
// daemon's or another's.
func managedFilter() client.Filters {
	return client.Filters{}.Add("label", LabelManaged+"="+Name)
}

// mine reports whether an object of an instance is this daemon's to use:
// it carries the daemon's identity, or none because a daemon made it
// before daemons had one.
func (r *Runtime) mine(labels map[string]string) bool {
	d := labels[runtime.LabelDaemon]
	return d == "" || d == r.daemonID
}

// ErrOtherDaemon is returned when an object the runtime would create or
// reuse (a container, network or volume name) belongs to another quai
// daemon sharing the engine.
var ErrOtherDaemon = errors.New("held by another quai daemon on this engine")

// refuseForeign returns nil for an object the daemon may use, else an error
// that says whose it is and what to do.
func (r *Runtime) refuseForeign(kind, name string, labels map[string]string, id stack.Identity) error {
	if r.mine(labels) {
		return nil
	}
	return fmt.Errorf("%s %s belongs to quai daemon %s, not to this one (%s): two daemons cannot run the same instance %s on one engine; deploy it from the daemon that holds it, or use another organization or environment here: %w",
		kind, name, labels[runtime.LabelDaemon], r.daemonID, id.Name(), ErrOtherDaemon)
}

// identityOf reads an instance identity back from labels.
func identityOf(labels map[string]string) stack.Identity {
	return stack.Identity{Org: labels[runtime.LabelOrg], Project: labels[runtime.LabelProject], Env: labels[runtime.LabelEnv]}
}

// sameIdentity compares identities treating an empty org as the default.
func sameIdentity(a, b stack.Identity) bool {
	norm := func(id stack.Identity) stack.Identity {
		id.Org = id.OrgOrDefault()
		return id
	}
	return norm(a) == norm(b)
}
