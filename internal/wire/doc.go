// Package wire is the vocabulary of quai's daemon API: the events an
// operation streams, plans, releases, instances and their status, the
// request bodies, the daemon's Info, the one JSON error shape and its codes,
// and the exec frame protocol. The API (internal/api) serves it and the
// client (internal/client) speaks it, so a client links no daemon code.
//
// It is a leaf: it imports the standard library only. The stack model
// travels as its JSON form (json.RawMessage), which the daemon decodes with
// internal/stack.
package wire

// Prefix is the path every endpoint lives under.
const Prefix = "/api/v1"

// SocketHost is the Host of requests over the daemon's unix socket; the
// socket, not the name, decides where they go.
const SocketHost = "quai"

// ContentTypeNDJSON is the content type of operation event streams: one
// Event as JSON per line, flushed as it happens.
const ContentTypeNDJSON = "application/x-ndjson"
