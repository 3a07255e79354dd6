// Package render turns a desired-state model (stack.Model) into files other
// tools run: Kubernetes manifests built from typed k8s.io/api objects, and the
// resolved Compose file of one instance. Rendering is a pure, deterministic
// function of the model and its options (plus, for Kubernetes, the project
// files that bind mounts name, which become ConfigMaps): the same input
// always yields the same bytes, so output can be diffed, committed and
// compared in golden tests.
//
// How Kubernetes renders a stack:
//
//   - one Namespace per instance, "<org>-<project>-<env>" (see Namespace for
//     why not one per org+env);
//   - a default-deny ingress NetworkPolicy, one admitting the ingress
//     controller's namespace to each routed service's route ports, and one
//     per depends_on target admitting the services that depend on it;
//   - bind mounts of project files and directories → ConfigMaps mounted
//     read-only; host paths outside the project → hostPath (with a warning);
//   - a named volume mounted by one single-replica service → a claim template
//     of its StatefulSet (ReadWriteOnce); a volume shared by several services
//     or replicas → one PersistentVolumeClaim (ReadWriteMany);
//   - a service with ports or expose → a ClusterIP Service named like the
//     Compose service, so "db:5432" in environment values keeps working;
//   - a service with a named volume → StatefulSet, otherwise Deployment
//     (routed ones roll with maxUnavailable 0, maxSurge 1);
//   - a routed service with two replicas or more → PodDisruptionBudget;
//   - a route → Ingress named after its host and path, TLS from cert-manager
//     (tls: auto), a Secret "<ingress>-tls" the user creates (tls: custom),
//     or none (tls: off);
//   - secrets → a projected volume at /run/secrets/<name> reading Secrets the
//     user creates (Manifests.Secrets says which, with kubectl commands);
//   - size classes → requests equal to limits; x-quai health path → HTTP
//     probes, Compose healthcheck → exec probes; user, read_only, cap_add,
//     cap_drop, privileged → the container's securityContext;
//     stop_grace_period → the pod's terminationGracePeriodSeconds; restart
//     is not rendered: a Deployment's or StatefulSet's pods always restart.
//
// What has no faithful equivalent (published host ports, non-numeric users,
// images built from source) is rendered as closely as possible and reported
// in Manifests.Warnings.
//
// It imports internal/stack and nothing else of quai; it must not import
// compose-go, the engine, runtimes, the store or the CLI.
package render
