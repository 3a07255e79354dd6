package docker

import (
	"strconv"

	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// Labels on everything the runtime creates. The first eight match the
// engine's; the rest are the runtime's own.
const (
	LabelOrg      = "quai.org"
	LabelProject  = "quai.project"
	LabelEnv      = "quai.env"
	LabelInstance = "quai.instance"
	LabelService  = "quai.service"
	LabelReplica  = "quai.replica"
	LabelRelease  = "quai.release"
	LabelHash     = "quai.hash"

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

func instanceLabels(id stack.Identity) map[string]string {
	org := id.Org
	if org == "" {
		org = stack.DefaultOrg
	}
	return map[string]string{
		LabelOrg: org, LabelProject: id.Project, LabelEnv: id.Env, LabelInstance: id.Name(),
		LabelManaged: Name,
	}
}

// replicaLabels are the labels of a replica's container: the service's own,
// then the spec's, then the runtime's, which win.
func replicaLabels(spec runtime.ReplicaSpec) map[string]string {
	out := map[string]string{}
	for k, v := range spec.Service.Labels {
		out[k] = v
	}
	for k, v := range spec.Labels {
		out[k] = v
	}
	for k, v := range instanceLabels(spec.Instance) {
		out[k] = v
	}
	out[LabelService] = spec.Service.Name
	out[LabelReplica] = spec.Replica
	out[LabelRelease] = strconv.Itoa(spec.Release)
	out[LabelHash] = spec.Service.Hash
	return out
}

// instanceFilter selects the objects of one instance.
func instanceFilter(id stack.Identity) client.Filters {
	l := instanceLabels(id)
	return client.Filters{}.Add("label",
		LabelManaged+"="+Name, LabelOrg+"="+l[LabelOrg], LabelProject+"="+id.Project, LabelEnv+"="+id.Env)
}

// managedFilter selects every object the runtime created.
func managedFilter() client.Filters {
	return client.Filters{}.Add("label", LabelManaged+"="+Name)
}

// identityOf reads an instance identity back from labels.
func identityOf(labels map[string]string) stack.Identity {
	return stack.Identity{Org: labels[LabelOrg], Project: labels[LabelProject], Env: labels[LabelEnv]}
}

// sameIdentity compares identities treating an empty org as the default.
func sameIdentity(a, b stack.Identity) bool {
	norm := func(id stack.Identity) stack.Identity {
		if id.Org == "" {
			id.Org = stack.DefaultOrg
		}
		return id
	}
	return norm(a) == norm(b)
}
