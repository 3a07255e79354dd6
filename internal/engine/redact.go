package engine

import (
	"slices"
	"strings"

	"github.com/quai-dev/quai/internal/stack"
)

// Redacted replaces a secret value in what the engine shows.
const Redacted = "(redacted)"

// minScrubbed is the shortest value scrubbed from commands: shorter ones
// ("1", "true", a port) are not secrets and would mangle every argument.
const minScrubbed = 6

// redactModel returns a copy of m fit to show: every environment and build
// argument value is Redacted (keys stay, so users see what is set), and
// those values are cut out of commands, entrypoints and health checks, where
// interpolation may have put them. The stored release keeps the real values
// for rollback.
func redactModel(m *stack.Model) *stack.Model {
	if m == nil {
		return nil
	}
	out := *m
	out.Resolved = nil
	var values []string
	redact := func(env map[string]string) map[string]string {
		if env == nil {
			return nil
		}
		r := make(map[string]string, len(env))
		for k, v := range env {
			if len(v) >= minScrubbed {
				values = append(values, v)
			}
			r[k] = Redacted
		}
		return r
	}
	out.Services = make([]*stack.Service, len(m.Services))
	for i, svc := range m.Services {
		s := *svc
		s.Environment = redact(svc.Environment)
		if svc.Build != nil {
			b := *svc.Build
			b.Args = redact(svc.Build.Args)
			s.Build = &b
		}
		if svc.Process != nil {
			p := *svc.Process
			p.Env = redact(svc.Process.Env)
			s.Process = &p
		}
		out.Services[i] = &s
	}
	// Longest first, so a value containing another is cut out whole.
	slices.SortFunc(values, func(a, b string) int { return len(b) - len(a) })
	scrub := func(args []string) []string {
		if args == nil {
			return nil
		}
		r := slices.Clone(args)
		for i := range r {
			for _, v := range values {
				r[i] = strings.ReplaceAll(r[i], v, Redacted)
			}
		}
		return r
	}
	for _, s := range out.Services {
		s.Command, s.Entrypoint = scrub(s.Command), scrub(s.Entrypoint)
		if s.Healthcheck != nil {
			h := *s.Healthcheck
			h.Test = scrub(h.Test)
			s.Healthcheck = &h
		}
		if s.Process != nil {
			s.Process.Command = scrub(s.Process.Command)
		}
	}
	return &out
}
