package stack

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// buildModel turns the loaded Compose project into the Model, validating the
// x-quai extensions on the way. Problems are added to ds; the returned error
// is for failures that are not the stack's fault.
func buildModel(p *types.Project, dir string, files []string, env, org string, c *checker) (*Model, error) {
	idx := c.idx
	checkExtensionNames(c, "", p.Extensions)
	top := c.topLevel(p.Extensions[Extension])

	projectName := cmp.Or(top.project, slugify(p.Name))
	m := &Model{
		Identity:  Identity{Org: org, Project: projectName, Env: env},
		Dir:       dir,
		Files:     slices.Clone(files),
		Sizes:     top.sizes,
		positions: idx.keys,

		AllowHostPaths: top.allow,
		Registry:       top.registry,
		Promotion:      top.promotion,
		Alerts:         top.alerts,
	}
	if msg, hint := c.lim.over(limitServices, int64(len(p.Services))); msg != "" {
		c.errf("services", hint, "the stack has too many services: %s", msg)
	}
	resolved, err := marshalResolved(p)
	if err != nil {
		return nil, fmt.Errorf("print resolved config: %w", err)
	}
	m.Resolved = resolved

	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		sc := p.Services[name]
		checkExtensionNames(c, "services."+name, sc.Extensions)
		m.Services = append(m.Services, buildService(c, p.Name, name, sc, top.sizes, dir))
	}
	for _, name := range slices.Sorted(maps.Keys(p.Volumes)) {
		m.Volumes = append(m.Volumes, Volume{Name: name, External: bool(p.Volumes[name].External)})
	}
	for _, name := range slices.Sorted(maps.Keys(p.Secrets)) {
		s := p.Secrets[name]
		m.Secrets = append(m.Secrets, Secret{Name: name, File: s.File, Environment: s.Environment, External: bool(s.External)})
	}
	checkSecrets(c, m, top.secrets)
	checkCycles(c, m)
	m.Routes = resolveRoutes(c, m, top)
	for _, s := range m.Services {
		s.Hash = serviceHash(s, dir)
	}
	return m, nil
}

// checkExtensionNames catches misspellings of x-quai (x-qaui, x_quai...),
// which Compose would otherwise accept silently as unrelated extensions.
func checkExtensionNames(c *checker, base string, ext types.Extensions) {
	for _, k := range slices.Sorted(maps.Keys(ext)) {
		if k == Extension {
			continue
		}
		if EditDistance(strings.ToLower(k), Extension) <= 2 {
			c.errf(joinPath(base, k), fmt.Sprintf("did you mean %q?", Extension), "unknown extension %q", k)
		}
	}
}

func buildService(c *checker, composeName, name string, sc types.ServiceConfig, sizes map[string]Size, dir string) *Service {
	x := c.service(name, sc.Extensions[Extension], sizes, dir)
	s := &Service{
		Name:          name,
		Image:         sc.Image,
		Command:       slices.Clone([]string(sc.Command)),
		Entrypoint:    slices.Clone([]string(sc.Entrypoint)),
		Environment:   nonNil(sc.Environment),
		WorkingDir:    sc.WorkingDir,
		User:          sc.User,
		Labels:        mapOrNil(sc.Labels),
		Privileged:    sc.Privileged,
		NetworkMode:   sc.NetworkMode,
		Pid:           sc.Pid,
		Ipc:           sc.Ipc,
		CapAdd:        slices.Clone(sc.CapAdd),
		CapDrop:       slices.Clone(sc.CapDrop),
		ReadOnly:      sc.ReadOnly,
		Restart:       sc.Restart,
		ContainerName: sc.ContainerName,
		Size:          x.size,
		Process:       x.process,
		HealthPath:    x.health,
		Metrics:       x.metrics,
		Backup:        x.backup,
		Suppress:      x.suppress,
		SecretEnv:     x.secretEnv,
	}
	if sc.Build != nil {
		s.Build = &Build{
			Context:    sc.Build.Context,
			Dockerfile: sc.Build.Dockerfile,
			Args:       nonNil(sc.Build.Args),
			Target:     sc.Build.Target,
		}
		if s.Image == "" {
			// The name `docker compose build` gives an image it builds.
			s.Image = composeName + "-" + name
		}
	}
	for _, pc := range sc.Ports {
		s.Ports = append(s.Ports, Port{Target: int(pc.Target), Published: pc.Published, HostIP: pc.HostIP, Protocol: pc.Protocol})
	}
	for _, e := range sc.Expose {
		s.Expose = append(s.Expose, exposedPorts(e)...)
	}
	slices.Sort(s.Expose)
	s.Expose = slices.Compact(s.Expose)
	for _, v := range sc.Volumes {
		s.Mounts = append(s.Mounts, Mount{Type: MountType(v.Type), Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly})
	}
	for _, t := range sc.Tmpfs {
		target, _, _ := strings.Cut(t, ":")
		s.Mounts = append(s.Mounts, Mount{Type: MountTmpfs, Target: target})
	}
	for _, sec := range sc.Secrets {
		s.Secrets = append(s.Secrets, sec.Source)
	}
	for _, dep := range slices.Sorted(maps.Keys(sc.DependsOn)) {
		s.DependsOn = append(s.DependsOn, Dependency{Service: dep, Condition: cmp.Or(sc.DependsOn[dep].Condition, ConditionStarted)})
	}
	if hc := sc.HealthCheck; hc != nil {
		h := &Healthcheck{Test: slices.Clone([]string(hc.Test)), Disable: hc.Disable || (len(hc.Test) > 0 && hc.Test[0] == "NONE")}
		if hc.Interval != nil {
			h.Interval = time.Duration(*hc.Interval)
		}
		if hc.Timeout != nil {
			h.Timeout = time.Duration(*hc.Timeout)
		}
		if hc.StartPeriod != nil {
			h.StartPeriod = time.Duration(*hc.StartPeriod)
		}
		if hc.Retries != nil {
			h.Retries = int(min(*hc.Retries, math.MaxInt32))
		}
		s.Healthcheck = h
	}
	if sc.StopGracePeriod != nil {
		s.StopGracePeriod = time.Duration(*sc.StopGracePeriod)
	}

	// Compose's schema admits start-first (the default) and stop-first.
	s.StopFirst = sc.Deploy != nil && sc.Deploy.UpdateConfig != nil && sc.Deploy.UpdateConfig.Order == "stop-first"

	s.Replicas = 1
	replicasPath := ""
	switch {
	case x.replicas != nil:
		s.Replicas, replicasPath = *x.replicas, "services."+name+"."+Extension+".replicas"
	case sc.Deploy != nil && sc.Deploy.Replicas != nil:
		s.Replicas, replicasPath = sc.GetScale(), "services."+name+".deploy.replicas"
	case sc.Scale != nil:
		s.Replicas, replicasPath = sc.GetScale(), "services."+name+".scale"
	}
	if msg, hint := c.lim.over(limitReplicas, int64(s.Replicas)); msg != "" {
		c.errf(replicasPath, hint, "too many replicas: %s", msg)
	}

	if x.size != "" {
		s.Resources = Resources(sizes[x.size])
	}
	cpus, mem := float64(sc.CPUS), int64(sc.MemLimit)
	if sc.Deploy != nil && sc.Deploy.Resources.Limits != nil {
		if l := sc.Deploy.Resources.Limits; l.NanoCPUs > 0 {
			cpus = float64(l.NanoCPUs)
		}
		if l := sc.Deploy.Resources.Limits; l.MemoryBytes > 0 {
			mem = int64(l.MemoryBytes)
		}
	}
	if cpus > 0 {
		s.Resources.MilliCPU = int64(math.Round(cpus * 1000))
	}
	if mem > 0 {
		s.Resources.MemoryBytes = mem
	}

	if b := s.Backup; b != nil && (b.Kind == BackupFiles || b.Kind == BackupVolume) && len(b.Paths) == 0 {
		for _, mt := range s.Mounts {
			if mt.Type == MountVolume || mt.Type == MountBind {
				b.Paths = append(b.Paths, mt.Target)
			}
		}
		if len(b.Paths) == 0 {
			c.errf("services."+name+"."+Extension+".backup", "list what to back up under paths:, or mount a volume", "a %s backup has nothing to back up: the service has no volumes", b.Kind)
		}
	}
	return s
}

// exposedPorts parses an expose entry: "8000", "8000/tcp" or "8000-8002".
func exposedPorts(e string) []int {
	e, _, _ = strings.Cut(e, "/")
	lo, hi, isRange := strings.Cut(e, "-")
	a, err := strconv.Atoi(lo)
	if err != nil {
		return nil
	}
	if !isRange {
		return []int{a}
	}
	b, err := strconv.Atoi(hi)
	if err != nil || b < a || b-a > 1000 {
		return []int{a}
	}
	out := make([]int, 0, b-a+1)
	for p := a; p <= b; p++ {
		out = append(out, p)
	}
	return out
}

func nonNil(m map[string]*string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func mapOrNil[M ~map[string]string](m M) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(map[string]string(m))
}

// checkCycles reports each depends_on cycle once, at the entry closing it.
func checkCycles(c *checker, m *Model) {
	const (
		unvisited = iota
		active
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(name string)
	visit = func(name string) {
		state[name] = active
		stack = append(stack, name)
		s := m.Service(name)
		for _, d := range s.DependsOn {
			if m.Service(d.Service) == nil {
				continue
			}
			switch state[d.Service] {
			case active:
				i := slices.Index(stack, d.Service)
				cycle := append(slices.Clone(stack[i:]), d.Service)
				c.errf("services."+name+".depends_on."+d.Service, "remove one of these depends_on entries; services that need each other should retry their connections instead", "dependency cycle: %s", strings.Join(cycle, " → "))
			case unvisited:
				visit(d.Service)
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
	}
	for _, s := range m.Services {
		if state[s.Name] == unvisited {
			visit(s.Name)
		}
	}
}

// resolveRoutes applies default hosts, checks targets and duplicates, and
// returns the valid routes sorted by host then path.
func resolveRoutes(c *checker, m *Model, top topLevel) []Route {
	defaultHost := ExpandHost(HostPattern(top.defaultHost, m.Identity), m.Identity)
	names := make([]string, len(m.Services))
	for i, s := range m.Services {
		names[i] = s.Name
	}
	seen := map[string]Position{}
	var out []Route
	for _, r := range top.routes {
		p := fmt.Sprintf("%s.routes.%d", Extension, r.index)
		if !r.hostSet {
			r.Host = defaultHost
		}
		valid := r.valid
		if r.Service != "" {
			s := m.Service(r.Service)
			switch {
			case s == nil:
				c.errf(p+".service", joinHints(didYouMean(r.Service, names), "the services are "+strings.Join(names, ", ")), "route to unknown service %q", r.Service)
				valid = false
			case r.Port != 0 && !servesPort(s, r.Port):
				ports := servicePorts(s)
				hint := fmt.Sprintf("add %q to services.%s.expose", strconv.Itoa(r.Port), s.Name)
				if len(ports) > 0 {
					hint = fmt.Sprintf("%s exposes %s; use one of them, or %s", s.Name, intList(ports), hint)
				}
				c.errf(p+".port", hint, "service %q neither publishes nor exposes port %d", s.Name, r.Port)
				valid = false
			}
		}
		valid = checkRouteRules(c, m, p, r) && valid
		if !valid {
			continue
		}
		key := r.Host + r.Path
		if first, dup := seen[key]; dup {
			c.errf(p, fmt.Sprintf("the first is at %s; remove one, or give it another host or path", first), "duplicate route %s", key)
			continue
		}
		seen[key] = r.Pos
		out = append(out, r.Route)
	}
	slices.SortStableFunc(out, func(a, b Route) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Path, b.Path))
	})
	// Recorded only where it is not the port replicas serve anyway, so the
	// model (and the releases that record it) of a service routed at its
	// first port is what it was before the field existed.
	routed := map[string]bool{}
	for _, r := range out {
		if s := m.Service(r.Service); s != nil && !routed[s.Name] {
			routed[s.Name] = true
			if r.Port != s.firstPort() {
				s.RoutedPort = r.Port
			}
		}
	}
	return out
}

func servesPort(s *Service, port int) bool {
	return slices.Contains(servicePorts(s), port)
}

func servicePorts(s *Service) []int {
	ports := slices.Clone(s.Expose)
	for _, p := range s.Ports {
		ports = append(ports, p.Target)
	}
	slices.Sort(ports)
	return slices.Compact(ports)
}

func intList(ports []int) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ", ")
}

func jsonIndent(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// relTo makes path relative to dir when it lies inside it, so hashes do not
// change when a checkout moves.
func relTo(dir, path string) string {
	if path == "" || !filepath.IsAbs(path) {
		return path
	}
	if r, err := filepath.Rel(dir, path); err == nil && r != ".." && !strings.HasPrefix(r, "../") {
		return filepath.ToSlash(r)
	}
	return path
}
