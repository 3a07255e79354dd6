// Package render turns a desired-state model (stack.Model) into files other
// tools run: Kubernetes manifests built from typed k8s.io/api objects, and the
// resolved Compose file of one instance. Rendering is a pure, deterministic
// function of the model and its options (plus, for Kubernetes, the project
// files that bind mounts name, which become ConfigMaps): the same input
// always yields the same bytes, so output can be diffed, committed and
// compared in golden tests.
//
// It imports internal/stack and nothing else of quai; it must not import
// compose-go, the engine, runtimes, the store or the CLI.
package render
