package alert

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/quai-dev/quai/internal/stack"
)

// Rule names an alert rule.
type Rule string

// The rules. Their names are stack.AlertRuleNames.
const (
	RuleCrash        Rule = "crash"         // a replica exited by itself (crash, kill, OOM)
	RuleRestartLoop  Rule = "restart_loop"  // ≥ Threshold restarts of a replica within Window
	RuleUnhealthy    Rule = "unhealthy"     // a replica unhealthy for more than For
	RuleInstanceDown Rule = "instance_down" // a service of a running instance has no ready replica for For
	RuleErrorRate    Rule = "error_rate"    // 5xx / requests > Threshold over Window
	RuleLatency      Rule = "latency"       // p95 latency > Threshold seconds over Window
	RuleBackupFailed Rule = "backup_failed" // a backup (or restore) failed
	RuleBackupMissed Rule = "backup_missed" // no successful backup within twice its schedule
	RuleBackupVerify Rule = "backup_verify" // a verify or a restore drill failed
	RuleCertExpiry   Rule = "cert_expiry"   // a certificate expires in less than Threshold days
	RuleCertRenew    Rule = "cert_renew"    // obtaining or renewing a certificate failed
	RuleDisk         Rule = "disk"          // the data or volumes file system is fuller than Threshold
	RuleDeployFailed Rule = "deploy_failed" // an operation (deploy, rollback, restart...) failed
)

// Severities.
const (
	SeverityCritical = "critical"
	SeverityWarning  = "warning"
	SeverityInfo     = "info"
)

// RuleConfig tunes one rule. Fields a rule does not use are ignored.
type RuleConfig struct {
	Enabled  bool
	Severity string
	// For is how long a condition must hold before it fires.
	For time.Duration
	// Window is the span a rate or a count is measured over.
	Window time.Duration
	// Threshold is the rule's limit in its unit (stack.ParseAlertThreshold).
	Threshold float64
	// MinRequests is the fewest requests in Window for error_rate and
	// latency to judge.
	MinRequests int64
	// ResolveAfter resolves an alert raised by an event when no new event
	// came for that long (crash, restart_loop, backup_verify).
	ResolveAfter time.Duration
}

// Config is the alerting configuration in effect for one instance.
type Config struct {
	// Repeat is how often a notification of an alert still active is sent
	// again (4h).
	Repeat time.Duration
	// GroupWait is how long a new alert waits for others of its instance
	// to go out in the same notification (500ms).
	GroupWait time.Duration
	// Channels, when set, restricts the instance's notifications to these
	// channels (x-quai.alerts.channels).
	Channels []string
	Rules    map[Rule]RuleConfig
}

// DefaultConfig is the rules' defaults (docs/alerts.md lists them).
func DefaultConfig() Config {
	return Config{
		Repeat:    4 * time.Hour,
		GroupWait: 500 * time.Millisecond,
		Rules: map[Rule]RuleConfig{
			RuleCrash:        {Enabled: true, Severity: SeverityCritical, ResolveAfter: 10 * time.Minute},
			RuleRestartLoop:  {Enabled: true, Severity: SeverityCritical, Threshold: 3, Window: 10 * time.Minute},
			RuleUnhealthy:    {Enabled: true, Severity: SeverityWarning, For: 2 * time.Minute},
			RuleInstanceDown: {Enabled: true, Severity: SeverityCritical, For: time.Minute},
			RuleErrorRate:    {Enabled: true, Severity: SeverityWarning, Threshold: 0.05, Window: 5 * time.Minute, MinRequests: 20},
			RuleLatency:      {Enabled: true, Severity: SeverityWarning, Threshold: 2, Window: 5 * time.Minute, MinRequests: 20},
			RuleBackupFailed: {Enabled: true, Severity: SeverityCritical},
			RuleBackupMissed: {Enabled: true, Severity: SeverityCritical},
			RuleBackupVerify: {Enabled: true, Severity: SeverityCritical, ResolveAfter: 24 * time.Hour},
			RuleCertExpiry:   {Enabled: true, Severity: SeverityWarning, Threshold: 14},
			RuleCertRenew:    {Enabled: true, Severity: SeverityCritical, ResolveAfter: 24 * time.Hour},
			RuleDisk:         {Enabled: true, Severity: SeverityCritical, Threshold: 0.9},
			RuleDeployFailed: {Enabled: true, Severity: SeverityWarning},
		},
	}
}

// Rule returns the configuration of r; an unknown rule is disabled.
func (c Config) Rule(r Rule) RuleConfig { return c.Rules[r] }

// With returns c overridden by a (x-quai.alerts, or the daemon's
// configuration file); nil changes nothing.
func (c Config) With(a *stack.Alerts) Config {
	if a == nil {
		return c
	}
	out := c
	out.Rules = maps.Clone(c.Rules)
	if a.Repeat > 0 {
		out.Repeat = a.Repeat
	}
	if len(a.Channels) > 0 {
		out.Channels = slices.Clone(a.Channels)
	}
	for name, o := range a.Rules {
		r := out.Rules[Rule(name)]
		if o.Enabled != nil {
			r.Enabled = *o.Enabled
		}
		if o.Severity != "" {
			r.Severity = o.Severity
		}
		if o.For > 0 {
			r.For = o.For
		}
		if o.Window > 0 {
			r.Window = o.Window
		}
		if o.Threshold > 0 {
			r.Threshold = o.Threshold
		}
		if o.MinRequests > 0 {
			r.MinRequests = o.MinRequests
		}
		if o.ResolveAfter > 0 {
			r.ResolveAfter = o.ResolveAfter
		}
		out.Rules[Rule(name)] = r
	}
	return out
}

// ErrConfig is returned for a daemon alert configuration that is not valid.
var ErrConfig = errors.New("invalid alert configuration")

// LoadConfigFile reads the daemon's alert configuration (quai serve
// --alerts-config FILE): YAML in the syntax of x-quai.alerts, for
// example
//
//	repeat: 2h
//	rules:
//	  disk: {threshold: 85%}
//	  latency: {threshold: 800ms}
//
// and returns the defaults overridden by it.
func LoadConfigFile(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("alert configuration: %w", err)
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return Config{}, fmt.Errorf("alert configuration %s: %w: %w", path, ErrConfig, err)
	}
	a, err := stack.DecodeAlerts(path, doc)
	if err != nil {
		return Config{}, fmt.Errorf("alert configuration %s: %w: %w", path, ErrConfig, err)
	}
	return DefaultConfig().With(a), nil
}
