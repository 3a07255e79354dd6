// Package docker is quai's Docker Engine runtime: every replica is a
// container on a local or remote engine, reached through the Engine API
// (github.com/moby/moby/client, which negotiates the API version down to the
// engine's, 1.40 at the oldest).
//
// What it creates, all labelled quai.org, quai.project, quai.env and
// quai.instance so that List, Orphans and cleanups find them again:
//
//	network   quai-<slug>                one bridge network per instance; no
//	                                     other instance's containers join it
//	container quai-<slug>-<replica>      also labelled quai.service,
//	                                     quai.replica, quai.release, quai.hash
//	volume    quai-<slug>-<name>         named volumes of the stack; never
//	                                     removed but by RemoveVolumes
//	image     quai-<slug>-<service>:<h>  images built from `build:` (h is the
//	                                     hash of the build context)
//
// Inside the instance network each replica answers to its service name
// (and its replica name), so "db:5432" works as in Compose, and the runtime
// reports Isolation: the engine does not rewrite addresses.
//
// How quai's proxy reaches a replica: the replica's first port (ports:
// target, else expose:) is published on Options.PublishIP (127.0.0.1 by
// default) at a host port the runtime picks, and Handle.Address is that
// address. The port is chosen by the runtime rather than left to the engine
// because Docker allocates a new ephemeral port each time a container
// restarts, while the handle (and the proxy's target) must stay valid
// across restarts. The trade-off: a daemon on the engine's host reaches
// replicas without routing into bridge networks (which it could not do
// for a remote engine, nor on Docker Desktop), but every replica holds a
// host port, and for a remote engine (tcp:// or ssh://) the address is on
// the engine's host: set PublishIP to an address of that host that the
// daemon can reach, or tunnel the ports; published ports declared in the
// stack are not honoured (public traffic goes through quai's routes).
//
// Health: a Compose healthcheck becomes the container's Docker healthcheck;
// an HTTP health path (x-quai.health.path) is probed by the runtime itself
// against Handle.Address, from a watcher started by Start, Reattach or the
// first Inspect, so a reopened runtime keeps reporting health.
//
// Secrets are files: on a local engine each is written to
// Options.RunDir/secrets/<slug>/<replica>/<name> (memory-backed; directory
// 0700, file readable by the container's user) and bind-mounted read-only
// at /run/secrets/<name>; on a remote engine, whose file system the daemon
// cannot write, they are copied into the container before it starts
// (which needs a writable root file system). A secret reaches the
// environment only when the stack asks for it by name (x-quai.secret_env).
//
// The restart policy defaults to on-failure, as on the process runtime.
// Not yet handled: external volumes (a stack volume is always the
// instance's own quai-<slug>-<name>) and network modes other than the
// instance network, host and none.
//
// The package imports internal/runtime and internal/stack only; it must not
// import the engine, the store, the proxy or the API.
package docker
