package docker

import (
	"strconv"

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

func instanceLabels(id stack.Identity) map[string]string {
	return map[string]string{
		runtime.LabelOrg: id.OrgOrDefault(), runtime.LabelProject: id.Project, runtime.LabelEnv: id.Env, runtime.LabelInstance: id.Name(),
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
	out[runtime.LabelService] = spec.Service.Name
	out[runtime.LabelReplica] = spec.Replica
	out[runtime.LabelRelease] = strconv.Itoa(spec.Release)
	out[runtime.LabelHash] = spec.Service.Hash
	return out
}

// instanceFilter selects the objects of one instance.
func instanceFilter(id stack.Identity) client.Filters {
	l := instanceLabels(id)
	return client.Filters{}.Add("label",
		LabelManaged+"="+Name, runtime.LabelOrg+"="+l[runtime.LabelOrg], runtime.LabelProject+"="+id.Project, runtime.LabelEnv+"="+id.Env)
}

// managedFilter selects every object the runtime created.
func managedFilter() client.Filters {
	return client.Filters{}.Add("label", LabelManaged+"="+Name)
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
