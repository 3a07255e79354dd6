// Package proxyd runs quai's proxy as its own small process, apart from
// the daemon, so that stopping, restarting, killing or upgrading the daemon
// drops no request; and it is the daemon's side of talking to that process.
//
// The proxy process (`quai proxy run`, Run) holds the HTTP and HTTPS
// listeners, the local CA and ACME certificates (internal/proxy), and the
// last route table, persisted atomically in DATA_DIR/proxy/routes.json so
// that a proxy started while no daemon runs serves it at once. It listens
// for its daemon on a unix socket, DATA_DIR/proxy/ctl.sock (0600), and
// holds DATA_DIR/proxy/proxy.lock for as long as it runs, so there is never
// a second proxy of a data directory.
//
// The protocol is HTTP+JSON on that socket (protocol.go). The daemon pushes
// whole tables, each with a generation number: a push is idempotent (the
// same generation again is acknowledged without change), applied fully or
// not at all, persisted, then acknowledged, so a route switch the engine was
// told about has happened in the process serving the traffic. Drains are
// requests that answer when the targets are idle. The table is the JSON of
// proxy.Route: fields added to it travel without a change here.
//
// Upgrading the proxy hands its listening sockets, its control socket and
// its lock to a new process by inheritance (ExtraFiles, as
// cloudflare/tableflip does); the new one serves at once, says so on a
// pipe, and the old one stops accepting, drains its in-flight requests and
// WebSocket tunnels (until they end or a deadline) and exits.
//
// The daemon (Client) adopts a proxy that runs already, or starts one, and
// restarts it if it dies while the daemon runs; a proxy that crashes while
// no daemon runs stays down until a daemon (or `quai proxy run`) starts it,
// and a crash loses its listeners' queued connections.
//
// It imports internal/proxy and nothing of the daemon: no engine, store,
// runtimes or API.
package proxyd
