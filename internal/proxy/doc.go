// Package proxy is quai's reverse proxy: it routes requests by host and path
// prefix to the healthy replicas of an instance's services, balances between
// them, retries idempotent requests on connection failures, passes WebSocket
// upgrades through, terminates TLS (a local CA for *.localhost, ACME for real
// domains, custom certificates) and drains old targets after a switchover.
//
// The routing table is immutable and swapped through an atomic pointer, so
// the request path takes no lock; upstream HTTP/1.1 connections are pooled
// per target by the package itself rather than through http.Transport,
// because the transport's per-request goroutine hand-offs dominate the cost
// of a small proxied request. HTTP/1.1 connections, plain and over TLS, are
// served by an allocation-free fast path (fast.go) that hands anything
// unusual to net/http; the fast path does the TLS handshakes. HTTP/2
// connections are served by an HTTP/2 fast path (h2.go, on
// golang.org/x/net/http2's framer and hpack) for body-less requests on
// routes without rules, and by net/http's HTTP/2 server otherwise (the
// connection handed over before its first answer, or refused streams
// retried by the client on a new connection). Client connections are
// bounded in total and per address (limit.go), so that idle clients cannot
// take the file descriptors the rest of the daemon needs.
//
// The engine drives it through SetRoutes, RemoveInstance and Drain. It
// usually runs in a process of its own (internal/proxyd), which takes whole
// tables (SetTable) from the daemon and can hand its listening sockets to
// a successor (StartOn, ListenerFiles); with `quai serve --proxy-in-daemon`
// the daemon owns it directly. It must not import the engine, the store,
// the runtimes or the API: it knows addresses, not services.
package proxy
