package runtime

import (
	"cmp"
	"slices"

	"github.com/quai-dev/quai/internal/stack"
)

// Verdict says what a runtime does with a setting of the stack that it
// cannot honour as written.
type Verdict string

// Verdicts, from the mildest.
const (
	// VerdictChange: the setting takes effect differently than written
	// (the host's PostgreSQL 16 for postgres:15, a published port that is
	// not bound).
	VerdictChange Verdict = "change"
	// VerdictIgnore: the setting has no effect on this runtime.
	VerdictIgnore Verdict = "ignore"
	// VerdictRefuse: the runtime cannot run the service at all; the engine
	// starts nothing of the release.
	VerdictRefuse Verdict = "refuse"
)

// Finding is what a runtime says about one setting of one service before
// anything starts: the plan lists it, and a refusal stops the deploy.
type Finding struct {
	// Service is the service the setting belongs to; empty for the stack
	// as a whole.
	Service string `json:"service,omitempty"`
	// Setting is the Compose or x-quai key, as written in the service
	// ("user", "read_only", "cap_drop", "deploy.resources.limits",
	// "ports", "image", "x-quai.process.command").
	Setting string  `json:"setting"`
	Verdict Verdict `json:"verdict"`
	// Message says what happens instead, or why the service cannot run,
	// and what to do about it.
	Message string `json:"message"`
	// Missing marks a refusal for something the host lacks (a database
	// server binary) rather than something the runtime cannot do.
	Missing bool `json:"missing,omitempty"`
}

// Assessor is implemented by runtimes that do not honour every setting of
// a stack the same way (the process runtime runs no containers; Docker
// binds no published port as written). The engine calls Assess while it
// plans, before anything starts, for the plan text, `up --dry-run` and
// `quai lint --runtime`; a finding with VerdictRefuse makes the engine
// refuse the deploy. Assess must be fast (no network), must not change
// anything, and must say the same for the same model on the same host, so
// that the plan a user confirmed is the plan that runs.
type Assessor interface {
	Assess(m *stack.Model) []Finding
}

// SortFindings orders findings by service, setting and message, the order
// plans print them in.
func SortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Setting, b.Setting), cmp.Compare(a.Message, b.Message))
	})
}
