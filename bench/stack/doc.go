// Package stackbench measures the path every quai verb starts with: loading
// a stack with its overlays, linting it and rendering it for Kubernetes and
// Compose. It holds benchmarks only; run them as bench/README.md says.
//
// It imports internal/stack, internal/lint and internal/render and is
// imported by nothing.
package stackbench
