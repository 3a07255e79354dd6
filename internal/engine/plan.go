package engine

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// ErrRouteConflict: a route of the plan is served by another instance; it
// is an ErrInvalid (the stack must change), and nothing was started.
var ErrRouteConflict = fmt.Errorf("route conflict: %w", ErrInvalid)

// observed is what the engine found about an instance in the store and the
// runtime. Together with the model it is the whole input of planning, so
// that planning is a pure function tests can drive by hand.
type observed struct {
	Instance string
	// Active is the active release, 0 when there is none.
	Active int
	// Next is the number the next release gets.
	Next int
	// Stopped: the instance was taken down.
	Stopped bool
	// Declared maps the active release's services to their hashes.
	Declared map[string]string
	// Replicas are the recorded replicas by service.
	Replicas map[string][]observedReplica
	// Routes are the active release's route lines.
	Routes []string
	// Model is the active release's model as stored (JSON), to tell a
	// change of settings that touches no replica from no change at all.
	Model []byte
	// Discovery: the engine provides service addresses (runtimes without
	// per-instance networks), which change when replicas are replaced, so
	// services that use a replaced service's address are replaced too.
	Discovery bool
	// Runtime is the name of the runtime the instance deploys on, and
	// Findings what it said it will ignore, change or refuse of the model
	// (runtime.Assessor), sorted.
	Runtime  string
	Findings []runtime.Finding
	// Taken maps the routes (routeKey) that other instances serve
	// through quai's proxy to the instance serving each.
	Taken map[string]string
}

// observedReplica is one recorded replica as the runtime reported it.
type observedReplica struct {
	Name    string
	Release int
	Hash    string
	// OK: the replica runs (or, for a one-shot job, completed successfully).
	OK bool
}

// startOrder sorts services so that every service comes after what it
// depends on (dependencyGraph), ties broken by name. Environment references
// that would form a cycle are ignored (the services then reach each other
// through <NAME>_HOST/_PORT of the previous replicas); a depends_on cycle is
// an error.
func startOrder(m *stack.Model, withRefs bool) ([]*stack.Service, error) {
	order, err := topoSort(m, dependencyGraph(m, withRefs))
	if err != nil && withRefs {
		order, err = topoSort(m, dependencyGraph(m, false))
	}
	return order, err
}

func topoSort(m *stack.Model, deps map[string][]startDep) ([]*stack.Service, error) {
	names := make([]string, 0, len(m.Services))
	for _, s := range m.Services {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	done := make(map[string]bool, len(names))
	var order []*stack.Service
	for len(order) < len(names) {
		progressed := false
		for _, n := range names {
			if done[n] {
				continue
			}
			if !slices.ContainsFunc(deps[n], func(d startDep) bool { return !done[d.service] }) {
				done[n] = true
				order = append(order, m.Service(n))
				progressed = true
				break // restart from the first name so ties go by name
			}
		}
		if !progressed {
			var stuck []string
			for _, n := range names {
				if !done[n] {
					stuck = append(stuck, n)
				}
			}
			return nil, fmt.Errorf("services %s depend on each other in a cycle; remove one depends_on: %w", strings.Join(stuck, ", "), ErrInvalid)
		}
	}
	return order, nil
}

// routedServices returns the services that receive proxy traffic.
func routedServices(m *stack.Model) map[string]bool {
	out := map[string]bool{}
	for _, r := range m.Routes {
		out[r.Service] = true
	}
	return out
}

// jobServices returns the services others wait for to complete
// (service_completed_successfully): one-shot jobs, done once exited with 0.
func jobServices(m *stack.Model) map[string]bool {
	out := map[string]bool{}
	for _, s := range m.Services {
		for _, d := range s.DependsOn {
			if d.Condition == stack.ConditionCompleted {
				out[d.Service] = true
			}
		}
	}
	return out
}

// makePlan compares the observed state with the model. It is pure: the
// same inputs give the same plan and the same text.
func makePlan(obs observed, m *stack.Model, modelJSON []byte, defaultHost string) (Plan, error) {
	order, err := startOrder(m, obs.Discovery)
	if err != nil {
		return Plan{}, err
	}
	routed := routedServices(m)
	p := Plan{Instance: obs.Instance, Release: obs.Next}
	for _, s := range order {
		reps := obs.Replicas[s.Name]
		ok := 0
		hashChanged := ""
		for _, r := range reps {
			if r.OK {
				ok++
			}
			if r.Hash != s.Hash && hashChanged == "" {
				hashChanged = r.Hash
			}
		}
		sp := ServicePlan{Service: s.Name, ToHash: s.Hash, From: ok, To: s.Replicas, Routed: routed[s.Name], StopFirst: s.StopFirst}
		declared, wasDeclared := obs.Declared[s.Name]
		switch {
		case len(reps) == 0 && !wasDeclared:
			sp.Action, sp.Reason = ActionCreate, "new service"
		case len(reps) == 0 && declared != s.Hash:
			sp.Action, sp.FromHash, sp.Reason = ActionReplace, declared, "config changed"
		case len(reps) == 0:
			sp.Action, sp.FromHash, sp.Reason = ActionRecreate, declared, "not running"
		case hashChanged != "":
			sp.Action, sp.FromHash, sp.Reason = ActionReplace, hashChanged, "config changed"
		case ok < len(reps):
			sp.Action, sp.FromHash = ActionRecreate, s.Hash
			sp.Reason = fmt.Sprintf("%d of %d replicas not running", len(reps)-ok, len(reps))
		case len(reps) != s.Replicas:
			sp.Action, sp.FromHash = ActionScale, s.Hash
			sp.Reason = "scale down"
			if s.Replicas > len(reps) {
				sp.Reason = "scale up"
			}
		default:
			sp.Action, sp.FromHash = ActionKeep, s.Hash
		}
		p.Services = append(p.Services, sp)
	}
	if obs.Discovery {
		cascade(&p, m)
	}
	var gone []string
	for name, reps := range obs.Replicas {
		if m.Service(name) == nil && len(reps) > 0 {
			gone = append(gone, name)
		}
	}
	sort.Strings(gone)
	for _, name := range gone {
		reps := obs.Replicas[name]
		p.Services = append(p.Services, ServicePlan{Service: name, Action: ActionRemove, FromHash: reps[0].Hash,
			From: len(reps), To: 0, Reason: "no longer declared"})
	}
	p.Routes = routeLines(m, defaultHost)
	p.Runtime = obs.Runtime
	for _, f := range obs.Findings {
		p.Findings = append(p.Findings, wire.RuntimeFinding{Service: f.Service, Setting: f.Setting, Verdict: string(f.Verdict), Message: f.Message, Missing: f.Missing})
	}
	for _, r := range m.Routes {
		key := routeKey(routeHost(r, m.Identity, defaultHost), routePath(r))
		if other, ok := obs.Taken[key]; ok && other != obs.Instance {
			p.Conflicts = append(p.Conflicts, wire.RouteConflict{Route: key, Instance: other})
		}
	}
	p.RoutesChanged = obs.Active > 0 && !slices.Equal(p.Routes, obs.Routes)
	// A downed instance whose model did not change starts its active
	// release again rather than recording a copy of it.
	restart := obs.Stopped && obs.Active > 0 && bytes.Equal(modelJSON, obs.Model)
	p.ModelChanged = obs.Active == 0 || obs.Stopped && !restart || !bytes.Equal(modelJSON, obs.Model)
	if obs.Active > 0 && p.Empty() || restart {
		p.Release = obs.Active
	}
	p.Text = planText(obs, p)
	return p, nil
}

// cascade replaces the services that use the address of a service whose
// replicas change (with engine-provided discovery, addresses change with
// replicas). Services come in start order, so the cascade reaches
// transitive dependents too.
func cascade(p *Plan, m *stack.Model) {
	deps := dependencyGraph(m, true)
	index := map[string]int{}
	for i, sp := range p.Services {
		index[sp.Service] = i
	}
	for i, sp := range p.Services {
		if sp.Action != ActionKeep && sp.Action != ActionScale {
			continue
		}
		uses := make([]string, 0, len(deps[sp.Service]))
		for _, d := range deps[sp.Service] {
			uses = append(uses, d.service)
		}
		slices.Sort(uses)
		for _, d := range uses {
			j, ok := index[d]
			if !ok {
				continue
			}
			if a := p.Services[j].Action; a == ActionCreate || a == ActionReplace || a == ActionRecreate {
				p.Services[i].Action = ActionReplace
				p.Services[i].Reason = "uses " + d + ", whose address changes"
				break
			}
		}
	}
}

// routeLines prints the model's routes, one per line, in model order.
func routeLines(m *stack.Model, defaultHost string) []string {
	var out []string
	for _, r := range m.Routes {
		tls := string(r.TLS)
		if tls == "" {
			tls = string(stack.TLSAuto)
		}
		out = append(out, fmt.Sprintf("%s%s → %s:%d (tls %s%s)", routeHost(r, m.Identity, defaultHost), routePath(r), r.Service, r.Port, tls, ruleSummary(r)))
	}
	return out
}

// planText renders a plan as the CLI shows it and golden files hold it.
func planText(obs observed, p Plan) string {
	var b strings.Builder
	switch {
	case obs.Active == 0:
		fmt.Fprintf(&b, "%s: install as release %d\n", p.Instance, p.Release)
	case obs.Stopped && p.Release == obs.Active:
		fmt.Fprintf(&b, "%s: is down; start release %d again\n", p.Instance, obs.Active)
	case p.Empty():
		fmt.Fprintf(&b, "%s: up to date at release %d\n", p.Instance, obs.Active)
	default:
		fmt.Fprintf(&b, "%s: release %d replaces release %d\n", p.Instance, p.Release, obs.Active)
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "  SERVICE\tACTION\tREPLICAS\tHASH\tREASON")
	for _, s := range p.Services {
		replicas := fmt.Sprintf("%d → %d", s.From, s.To)
		hash := s.FromHash + " → " + s.ToHash
		switch s.Action {
		case ActionKeep:
			replicas, hash = fmt.Sprint(s.To), s.ToHash
		case ActionCreate:
			hash = s.ToHash
		case ActionRemove:
			hash = s.FromHash
		case ActionScale, ActionRecreate:
			hash = s.ToHash
		case ActionReplace:
			if s.FromHash == s.ToHash {
				hash = s.ToHash
			}
		}
		reason := s.Reason
		switch {
		case s.Routed && s.From > 0 && s.StopFirst && s.Action == ActionReplace:
			reason = strings.TrimPrefix(reason+"; stop-first, brief outage", "; ")
		case s.Routed && s.From > 0 && (s.Action == ActionReplace || s.Action == ActionRecreate || s.Action == ActionScale):
			reason = strings.TrimPrefix(reason+"; zero-downtime", "; ")
		}
		_, _ = fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", s.Service, s.Action, replicas, hash, reason)
	}
	_ = tw.Flush()
	if len(p.Routes) > 0 {
		b.WriteString("routes:")
		if p.RoutesChanged {
			b.WriteString(" (changed)")
		}
		b.WriteString("\n")
		for _, r := range p.Routes {
			b.WriteString("  " + r + "\n")
		}
	} else if p.RoutesChanged {
		b.WriteString("routes: all removed\n")
	}
	if !p.Empty() && obs.Active > 0 && servicesUnchanged(p) {
		b.WriteString("no replica changes; the new release records the changed settings\n")
	}
	writeFindings(&b, p)
	// Trim the padding tabwriter leaves at line ends so golden files stay clean.
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

func servicesUnchanged(p Plan) bool {
	for _, s := range p.Services {
		if s.Action != ActionKeep {
			return false
		}
	}
	return true
}

// writeFindings adds to a plan's text what its runtime will not run as
// written, and what stops the plan: the runtime's refusals and the routes
// other instances serve.
func writeFindings(b *strings.Builder, p Plan) {
	if len(p.Findings) > 0 {
		fmt.Fprintf(b, "the %s runtime will:\n", p.Runtime)
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		for _, f := range p.Findings {
			_, _ = fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", f.Verdict, cmp.Or(f.Service, "-"), f.Setting, f.Message)
		}
		_ = tw.Flush()
	}
	for _, c := range p.Conflicts {
		fmt.Fprintf(b, "route conflict: %s is already served by instance %s\n", c.Route, c.Instance)
	}
	if len(p.Conflicts) > 0 {
		b.WriteString("  give this instance's routes hosts of their own: x-quai.routes[].host, or {org} in x-quai.default_host\n")
	}
	if p.Refused() {
		b.WriteString("refused: nothing will be started\n")
	}
}

// refusal is the error of a plan that cannot be executed (Plan.Refused),
// naming each refused service and route; nil when it can be.
func refusal(p Plan) error {
	if !p.Refused() {
		return nil
	}
	var refused []string
	missing := true
	for _, f := range p.Findings {
		if f.Verdict == wire.VerdictRefuse {
			refused = append(refused, fmt.Sprintf("service %s: %s", f.Service, f.Message))
			missing = missing && f.Missing
		}
	}
	if len(refused) > 0 {
		sentinel := runtime.ErrUnsupported
		if missing {
			sentinel = runtime.ErrMissingDependency
		}
		return fmt.Errorf("%s: the %s runtime cannot run it, so nothing was started:\n  %s\n%w",
			p.Instance, p.Runtime, strings.Join(refused, "\n  "), sentinel)
	}
	if len(p.Conflicts) > 0 {
		var lines []string
		for _, c := range p.Conflicts {
			lines = append(lines, fmt.Sprintf("%s is already served by instance %s", c.Route, c.Instance))
		}
		return fmt.Errorf("%s: %w, so nothing was started:\n  %s\ngive the route a host of its own (x-quai.routes[].host, or {org} in x-quai.default_host), or remove the other instance",
			p.Instance, ErrRouteConflict, strings.Join(lines, "\n  "))
	}
	return nil
}
