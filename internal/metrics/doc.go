// Package metrics collects quai's metrics and keeps their history.
//
// The Collector samples, every Interval (10 s), what the daemon knows: the
// proxy's per-route request counters (proxy.Stats), every instance's
// replicas as the runtimes report them (CPU, memory, restarts, health,
// uptime), backups and drills from the state store, certificate expiry
// from the proxy, the host's CPU, memory, disk and load (gopsutil), and the
// Prometheus endpoints of services that declare x-quai.metrics. It turns
// them into the Prometheus exposition of the opt-in listener (Handler),
// into the rows of the embedded history (History, its own SQLite file),
// and into the figures `quai top`, `quai metrics` and the alert rules read
// (Top, Series, RequestStats, DiskUsage). Deploy durations and results
// come from the engine's event stream (Observe).
//
// It may import internal/proxy (for its statistics types), internal/runtime
// (replica status) and internal/wire; it never imports the engine, the
// store, the API or a runtime implementation: the daemon adapts those to
// the small source types declared here.
package metrics
