package kube

import (
	"slices"

	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// Assess says what of m the Kubernetes runtime does not apply as written:
// what the renderer could not render faithfully (published ports, a user
// name where Kubernetes needs a uid, network_mode, bind mounts that become
// ConfigMaps or hostPath volumes, sources that must be pushed to a
// registry). It renders the model the way Apply will, reading the project's
// bind-mounted files but nothing on the network; a model the renderer
// refuses is refused here, before anything is applied.
func (r *Runtime) Assess(m *stack.Model) []runtime.Finding {
	man, err := render.Kubernetes(m, r.render)
	if err != nil {
		return []runtime.Finding{{Setting: "services", Verdict: runtime.VerdictRefuse, Message: err.Error()}}
	}
	out := make([]runtime.Finding, 0, len(man.Findings))
	for _, f := range man.Findings {
		out = append(out, runtime.Finding{Service: f.Service, Setting: f.Setting, Verdict: runtime.Verdict(f.Verdict), Message: f.Message})
	}
	runtime.SortFindings(out)
	return slices.Compact(out)
}

var _ runtime.Assessor = (*Runtime)(nil)
