// Package lint owns quai's stack rules: security and reliability checks over
// the desired-state model (stack.Model), their suppression through
// x-quai.lint.ignore, and the text, JSON and SARIF renderings of findings.
//
// Rules are pure functions of the model (plus, optionally, the raw text of
// environment values, see Sources). The package must not import compose-go,
// the engine, a runtime, the store or the CLI: it sees stacks only through
// internal/stack.
package lint

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/quai-dev/quai/internal/stack"
)

// ErrUnknownSeverity is returned by ParseSeverity for a name it does not know.
var ErrUnknownSeverity = errors.New("unknown severity")

// Severity says how bad a finding is.
type Severity string

// Severities, from most to least severe.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info"
)

// rank orders severities: higher is more severe; unknown severities rank 0.
func (s Severity) rank() int {
	switch s {
	case SeverityError:
		return 3
	case SeverityWarning:
		return 2
	case SeverityInfo:
		return 1
	}
	return 0
}

// AtLeast reports whether s is as severe as threshold or more.
func (s Severity) AtLeast(threshold Severity) bool { return s.rank() >= threshold.rank() }

// ParseSeverity parses "error", "warning" or "info".
func ParseSeverity(v string) (Severity, error) {
	switch s := Severity(strings.ToLower(v)); s {
	case SeverityError, SeverityWarning, SeverityInfo:
		return s, nil
	}
	return "", fmt.Errorf("%w %q: use error, warning or info", ErrUnknownSeverity, v)
}

// Scope says in which environments a rule applies. The environment comes from
// the model's Identity.Env.
type Scope string

// Scopes.
const (
	// ScopeAll rules apply in every environment: the stack file is the same.
	ScopeAll Scope = "all"
	// ScopeNonDev rules are skipped for development environments (dev,
	// development, local), where throwaway credentials and data are normal.
	ScopeNonDev Scope = "non-dev"
	// ScopeProd rules apply to production environments only (prod, production).
	ScopeProd Scope = "prod"
)

// IsDevEnv reports whether env names a development environment.
func IsDevEnv(env string) bool { return stack.IsDevEnv(env) }

// IsProdEnv reports whether env names a production environment.
func IsProdEnv(env string) bool {
	switch strings.ToLower(env) {
	case "prod", "production":
		return true
	}
	return false
}

func (s Scope) applies(env string) bool {
	switch s {
	case ScopeNonDev:
		return !IsDevEnv(env)
	case ScopeProd:
		return IsProdEnv(env)
	}
	return true
}

// Category groups rules.
type Category string

// Categories.
const (
	CategorySecurity    Category = "security"
	CategoryReliability Category = "reliability"
	CategorySuppression Category = "suppression"
)

// Rule is one check. IDs are stable: a rule that is retired keeps its ID
// reserved, so suppressions written against it stay meaningful.
type Rule struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	Scope    Scope    `json:"scope"`
	Category Category `json:"category"`
	// Title is a short name for the rule, used in listings and SARIF.
	Title string `json:"title"`
	// Explanation is one line saying why the rule matters.
	Explanation string `json:"explanation"`
	// Hint is one line saying how to fix a finding.
	Hint string `json:"hint"`
	// Example is a stack fragment that triggers the rule; Fix is the same
	// fragment corrected. Both feed docs/lint-rules.md.
	Example string `json:"-"`
	Fix     string `json:"-"`
	// Notes says, for the docs, how the rule decides when that is not obvious.
	Notes string `json:"-"`
	// Meta rules check the suppressions themselves and cannot be suppressed.
	Meta bool `json:"-"`

	check func(*checker)
}

// Finding is one rule violation at one position.
type Finding struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Service  string   `json:"service,omitempty"`
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Column   int      `json:"column"`
	Message  string   `json:"message"`
	Hint     string   `json:"hint"`
}

// Position returns where the finding points.
func (f Finding) Position() stack.Position {
	return stack.Position{File: f.File, Line: f.Line, Column: f.Column}
}

// Options tune a Check.
type Options struct {
	// Sources holds the environment values as written in the stack files,
	// before interpolation. With it, secret rules tell a literal
	// ("hunter2") from a reference ("${DB_PASSWORD}"); without it every value
	// is treated as literal.
	Sources *Sources
	// Runtime is what the runtime RuntimeName said it will ignore, change
	// or refuse of the stack (the daemon's plan for it), which rules
	// QL035 and QL036 report; nil checks no runtime.
	Runtime     []RuntimeNote
	RuntimeName string
}

// RuntimeRefuse is the verdict of a RuntimeNote for a service the runtime
// cannot run; "ignore" and "change" are the others.
const RuntimeRefuse = "refuse"

// RuntimeNote is what a runtime says of one setting of one service: a
// finding of the plan (wire.RuntimeFinding), as lint reports it.
type RuntimeNote struct {
	Service string
	// Setting is the service's key ("read_only", "x-quai.process.command").
	Setting string
	// Verdict is "ignore", "change" or RuntimeRefuse.
	Verdict string
	Message string
}

// Rules returns every rule, ordered by ID. The slice is fresh; callers may
// modify it.
func Rules() []Rule { return allRules() }

// Lookup returns the rule with the given ID.
func Lookup(id string) (Rule, bool) {
	for _, r := range allRules() {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

// Check runs every rule that applies to the model's environment, drops the
// findings suppressed by x-quai.lint.ignore, adds findings about the
// suppressions themselves, and returns the findings sorted by file, line,
// column, rule and service. The result is never nil.
func Check(m *stack.Model, opts Options) []Finding {
	rules := allRules()
	c := &checker{m: m, opts: opts}
	for i := range rules {
		r := &rules[i]
		if r.Meta || !r.Scope.applies(m.Identity.Env) {
			continue
		}
		c.rule = r
		r.check(c)
	}
	findings := applySuppressions(m, rules, c.findings)
	Sort(findings)
	return findings
}

// Sort orders findings by file, line, column, rule ID and service, the order
// every output format uses.
func Sort(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Rule, b.Rule),
			cmp.Compare(a.Service, b.Service),
			cmp.Compare(a.Message, b.Message),
		)
	})
}

// Count returns the number of findings per severity.
func Count(fs []Finding) map[Severity]int {
	n := map[Severity]int{}
	for _, f := range fs {
		n[f.Severity]++
	}
	return n
}

// Exceeds reports whether any finding is at or above threshold.
func Exceeds(fs []Finding, threshold Severity) bool {
	for _, f := range fs {
		if f.Severity.AtLeast(threshold) {
			return true
		}
	}
	return false
}

// applySuppressions drops findings silenced by their service's ignore list
// and reports suppressions that are malformed (no reason), unknown, aimed at
// a meta rule, or unused.
func applySuppressions(m *stack.Model, rules []Rule, in []Finding) []Finding {
	known := make(map[string]*Rule, len(rules))
	for i := range rules {
		known[rules[i].ID] = &rules[i]
	}
	type key struct{ service, rule string }
	suppressed := map[key]bool{}
	for _, s := range m.Services {
		for _, sup := range s.Suppress {
			suppressed[key{s.Name, strings.TrimSpace(sup.Rule)}] = true
		}
	}
	used := map[key]bool{}
	out := make([]Finding, 0, len(in))
	for _, f := range in {
		k := key{f.Service, f.Rule}
		if f.Service != "" && suppressed[k] {
			used[k] = true
			continue
		}
		out = append(out, f)
	}

	meta := &checker{m: m}
	for _, s := range m.Services {
		for i, sup := range s.Suppress {
			id := strings.TrimSpace(sup.Rule)
			pos := m.ServicePos(s.Name, fmt.Sprintf("x-quai.lint.ignore.%d", i))
			r, ok := known[id]
			switch {
			case !ok:
				meta.rule = known[ruleSuppressUnknown]
				meta.report(s.Name, pos, "service %q suppresses %q, which is not a quai lint rule", s.Name, sup.Rule)
			case r.Meta:
				meta.rule = known[ruleSuppressUnknown]
				meta.report(s.Name, pos, "service %q suppresses %s, which checks suppressions and cannot itself be suppressed", s.Name, id)
			case !used[key{s.Name, id}] && r.Scope.applies(m.Identity.Env):
				meta.rule = known[ruleSuppressUnused]
				meta.report(s.Name, pos, "service %q suppresses %s (%s), which reports nothing for it in env %q", s.Name, id, r.Title, m.Identity.Env)
			}
			if strings.TrimSpace(sup.Reason) == "" {
				meta.rule = known[ruleSuppressNoReason]
				meta.report(s.Name, pos, "service %q suppresses %s without a reason", s.Name, sup.Rule)
			}
		}
	}
	return append(out, meta.findings...)
}

// checker collects the findings of the rule being run.
type checker struct {
	m        *stack.Model
	opts     Options
	rule     *Rule
	findings []Finding
}

// report records a finding of the current rule with the rule's hint.
func (c *checker) report(service string, pos stack.Position, format string, args ...any) {
	c.reportHint(service, pos, c.rule.Hint, format, args...)
}

// reportHint records a finding with a hint specific to this occurrence.
func (c *checker) reportHint(service string, pos stack.Position, hint, format string, args ...any) {
	if pos.File == "" && len(c.m.Files) > 0 {
		// Point at the base stack file rather than nowhere.
		pos = stack.Position{File: c.m.Files[0]}
	}
	c.findings = append(c.findings, Finding{
		Rule:     c.rule.ID,
		Severity: c.rule.Severity,
		Service:  service,
		File:     pos.File,
		Line:     pos.Line,
		Column:   pos.Column,
		Message:  fmt.Sprintf(format, args...),
		Hint:     hint,
	})
}

// keyPos returns the position of the first of a service's keys that was
// written explicitly, else the service itself. Model.Pos falls back to the
// nearest ancestor, so a key whose position equals its parent's was not
// written.
func (c *checker) keyPos(service string, keys ...string) stack.Position {
	for _, k := range keys {
		p := c.m.ServicePos(service, k)
		if p != c.m.ServicePos(service, parentKey(k)) {
			return p
		}
	}
	return c.m.ServicePos(service, "")
}

// pos returns the position of a service key, or its nearest written ancestor.
func (c *checker) pos(service, key string) stack.Position {
	return c.m.ServicePos(service, key)
}

func parentKey(k string) string {
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		return k[:i]
	}
	return ""
}
