// Package process is quai's embedded runtime: every replica is an OS process
// on the local machine, run by a small supervisor process (the quai binary
// re-executed in supervisor mode, see ShimMain) that outlives the daemon.
//
// Layout under Options.DataDir:
//
//	instances/<slug>/replicas/<replica>/spec.json   what to run (written by the runtime)
//	instances/<slug>/replicas/<replica>/state       supervisor state (written atomically by the supervisor)
//	instances/<slug>/replicas/<replica>/logs/       app.log, app.log.1, ... (rotated by size)
//	instances/<slug>/volumes/<name>/                named volumes (and database data)
//
// Under Options.RunDir (memory-backed: datadir.RunDir), removed with the
// replica, so no secret value is ever written to the data directory:
//
//	<slug>/<replica>/secrets/   one 0600 file per secret, the replica's user's
//	<slug>/<replica>/env/       one 0600 file per x-quai.secret_env variable,
//	                            added to the environment by the supervisor at
//	                            each start (spec.json never holds them)
//
// A Handle's ID is the supervisor's pid and start time (from /proc), so a
// recycled pid is never mistaken for the supervisor. A restarted daemon
// calls Reattach with the persisted handle and resumes health checks; the
// app is not restarted.
//
// What the process runtime does differently from a container runtime, by
// necessity (docs/stack-file.md, "On the process runtime", says it for
// users):
//   - every replica gets a free loopback port in PORT and must listen on it;
//     Handle.Address is 127.0.0.1:PORT;
//   - secrets are files under $QUAI_SECRETS_DIR/<name> (the path
//     /run/secrets/<name> needs root), and <NAME>_FILE points at each;
//     environment values equal to /run/secrets/<name> are rewritten;
//   - named volumes are directories (instances/<slug>/volumes/<name>, also in
//     $QUAI_VOLUME_<NAME>) and environment values naming a volume or tmpfs
//     mount target are rewritten to that directory; bind mounts are not
//     remapped: the app sees the host's file system as is;
//   - resource limits are enforced with cgroup v2 where a root daemon can
//     (cgroup.go), and otherwise ignored; Assess says which, and says
//     what else of the stack the runtime ignores or refuses, for the plan;
//     there is no network isolation;
//   - the well-known database images (postgres, mysql, mariadb, redis) run
//     from the host's server binaries; when the daemon runs as root they run
//     as the matching system user (postgres, mysql, redis), which owns their
//     data directory;
//   - an app runs as the service's `user:`, which only a root daemon can
//     switch to; a daemon that is not root refuses such a service.
//
// A supervisor that dies while its replica should run (SIGKILL, the OOM
// killer) is replaced: the daemon's watcher, or Reattach after a daemon
// restart, stops the orphaned app and starts a new supervisor in the same
// directory.
//
// The package imports internal/runtime and internal/stack only; it must not
// import the engine, the store, the proxy or the API.
package process
