// Package stack owns the stack file: it finds a project's Compose file and its
// overlays (envs/<env>.yaml, orgs/<org>/common.yaml, orgs/<org>/<env>.yaml),
// loads and merges them with compose-go exactly as `docker compose` does,
// validates the x-quai extensions strictly, and returns the runtime-agnostic
// desired-state Model with the position of every key.
//
// It is the only package that imports compose-go; nothing downstream sees
// compose-go types. It must not import the engine, runtimes, store, lint,
// render or CLI packages: they all depend on it, not the other way round.
package stack
