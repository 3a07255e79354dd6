// Package alert owns quai's alerting: the rules (with defaults the
// daemon's configuration and each stack's x-quai.alerts override), their
// evaluation over engine events, replica events, polls of instance state
// and request metrics, the life of each alert (it fires once, repeats on a
// schedule while active, resolves with a notice, can be silenced, and is
// grouped per instance), and the notification channels (a signed generic
// webhook, Slack, Discord, Telegram, Microsoft Teams, ntfy, e-mail over
// SMTP) with their URLs sealed at rest.
//
// It may import internal/runtime (the ReplicaWatcher contract),
// internal/stack (x-quai.alerts) and internal/wire (the API's types); it
// must not import the engine, the store, the proxy, the metrics package or
// the API: the daemon hands it what it reads through small interfaces
// (InstanceSource, MetricSource, CertSource).
package alert
