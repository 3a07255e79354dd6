package docker

import (
	"fmt"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// Assess says what of m the Docker runtime does not run as written: a
// replica's ports are never published on the host ports the stack names
// (several replicas and instances could not share them); quai's proxy
// reaches each replica's first port through a host port of its choosing.
// x-quai.process, the process runtime's command, is not used either, but
// that is its purpose and not worth a line.
func (r *Runtime) Assess(m *stack.Model) []runtime.Finding {
	var out []runtime.Finding
	for _, svc := range m.Services {
		for _, p := range svc.Ports {
			if p.Published == "" {
				continue
			}
			out = append(out, runtime.Finding{Service: svc.Name, Setting: "ports", Verdict: runtime.VerdictChange,
				Message: fmt.Sprintf("port %s:%d is not published on host port %s: quai's proxy reaches container port %d of every replica through a host port it chooses; reach it through an x-quai route", p.Published, p.Target, p.Published, p.Target)})
		}
		if why := svc.MetricsNotScraped(); why != "" {
			out = append(out, runtime.Finding{Service: svc.Name, Setting: stack.Extension + ".metrics.port", Verdict: runtime.VerdictIgnore, Message: why})
		}
	}
	runtime.SortFindings(out)
	return out
}
