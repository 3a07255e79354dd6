// Package loadtest is quai's built-in HTTP load tester (`quai loadtest`):
// a closed model (Options.Clients clients, each with its own connection,
// sending one request after another, for Options.Requests requests or for
// Options.Duration) and an open model (Options.Rate requests a second,
// whatever the answers take), over HTTP/1.1 or HTTP/2 (TLS with ALPN, or
// cleartext with prior knowledge), with a warm-up that is not measured.
//
// The report gives latency percentiles from every sample, status code
// counts, errors by kind and bytes; Watch samples a quai instance's own
// status during a run, so the report can show the instance's CPU, memory
// and restarts per service beside the load that caused them.
//
// HTTP/1.1 requests are written as bytes prepared once and responses are
// parsed straight off the connection (status line, the framing headers,
// the body discarded): the load tester must not be the bottleneck of what
// it measures, and net/http's client costs several times the work per
// request. HTTP/2 goes through net/http's own HTTP/2 client connection.
//
// The package prints nothing; it imports the standard library and
// internal/wire (for the instance status it watches), never the daemon,
// the engine or the client.
package loadtest
