package wire

import (
	"crypto/sha256"
	"encoding/hex"
)

// Action is what a plan does to one service.
type Action string

// Actions.
const (
	ActionCreate   Action = "create"   // new service: start replicas
	ActionReplace  Action = "replace"  // config hash changed: start new, switch, drain old
	ActionScale    Action = "scale"    // same hash, different replica count
	ActionKeep     Action = "keep"     // nothing to do
	ActionRemove   Action = "remove"   // service no longer declared
	ActionRecreate Action = "recreate" // replicas missing or dead: start again, same hash
)

// ServicePlan is the plan for one service.
type ServicePlan struct {
	Service  string `json:"service"`
	Action   Action `json:"action"`
	FromHash string `json:"from_hash,omitempty"`
	ToHash   string `json:"to_hash,omitempty"`
	From     int    `json:"from_replicas"`
	To       int    `json:"to_replicas"`
	// Routed reports whether the service receives proxy traffic, so
	// replacement must be zero-downtime.
	Routed bool `json:"routed,omitempty"`
	// StopFirst reports that a replacement stops the old replicas before
	// starting the new ones (deploy.update_config.order: stop-first): a
	// short outage even when the service is routed.
	StopFirst bool `json:"stop_first,omitempty"`
	// Reason explains the action in a few words ("image changed", "new service").
	Reason string `json:"reason,omitempty"`
}

// Plan is the pure result of comparing desired and observed state. Its Text
// is what the CLI shows and what tests compare.
type Plan struct {
	Instance string        `json:"instance"`
	Release  int           `json:"release"`  // the release this plan will create
	Services []ServicePlan `json:"services"` // in start order (dependencies first)
	Routes   []string      `json:"routes,omitempty"`
	// RoutesChanged reports that the routes differ from the active release's.
	RoutesChanged bool `json:"routes_changed,omitempty"`
	// ModelChanged reports that the model differs from the active release's
	// (routes, backup policy, replica counts...), so executing the plan
	// records a new release even when every service is kept.
	ModelChanged bool `json:"model_changed,omitempty"`
	// Runtime is the runtime the plan deploys on.
	Runtime string `json:"runtime,omitempty"`
	// Findings are what the runtime will ignore, change or refuse of the
	// stack (the process runtime runs no containers), ordered by service.
	Findings []RuntimeFinding `json:"findings,omitempty"`
	// Conflicts are the routes another instance already serves.
	Conflicts []RouteConflict `json:"conflicts,omitempty"`
	Text      string          `json:"text"`
}

// Verdicts of a RuntimeFinding.
const (
	VerdictChange = "change" // takes effect differently than written
	VerdictIgnore = "ignore" // has no effect on this runtime
	VerdictRefuse = "refuse" // the runtime cannot run the service: nothing starts
)

// RuntimeFinding is what a runtime says about one setting of one service
// before anything starts.
type RuntimeFinding struct {
	Service string `json:"service,omitempty"`
	// Setting is the key as written in the service ("user", "ports").
	Setting string `json:"setting"`
	// Verdict is VerdictChange, VerdictIgnore or VerdictRefuse.
	Verdict string `json:"verdict"`
	Message string `json:"message"`
	// Missing marks a refusal for something the host lacks (a server binary).
	Missing bool `json:"missing,omitempty"`
}

// RouteConflict is a route of the plan that another instance serves.
type RouteConflict struct {
	// Route is host and path ("shop.dev.localhost/api").
	Route string `json:"route"`
	// Instance is the instance that serves it now.
	Instance string `json:"instance"`
}

// Refused reports whether the plan cannot be executed: a runtime refuses a
// service, or a route is another instance's. Executing it is refused
// before anything starts. A plan that changes nothing is never refused.
func (p Plan) Refused() bool {
	if p.Empty() {
		return false
	}
	if len(p.Conflicts) > 0 {
		return true
	}
	for _, f := range p.Findings {
		if f.Verdict == VerdictRefuse {
			return true
		}
	}
	return false
}

// Empty reports whether executing the plan would change nothing: every
// service is kept and the model is the active release's.
func (p Plan) Empty() bool {
	if p.ModelChanged || p.RoutesChanged {
		return false
	}
	for _, s := range p.Services {
		if s.Action != ActionKeep {
			return false
		}
	}
	return true
}

// Fingerprint identifies the plan as the user saw it: "sha256:" and the hex
// digest of its Text, which names the release it creates and every
// service's action and hashes. An up request carrying it is refused when
// the daemon's own plan differs.
func (p Plan) Fingerprint() string {
	sum := sha256.Sum256([]byte(p.Text))
	return "sha256:" + hex.EncodeToString(sum[:])
}
