package stack

// --- x-quai.alerts (issue 12, alerts) ---------------------------------------

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AlertRuleNames are the alert rules x-quai.alerts and the daemon's alert
// configuration may tune; internal/alert owns what each means.
var AlertRuleNames = []string{
	"backup_failed", "backup_missed", "backup_verify", "cert_expiry", "cert_renew", "crash",
	"deploy_failed", "disk", "error_rate", "instance_down", "latency", "restart_loop", "unhealthy",
}

var (
	alertsKeys    = []string{"channels", "repeat", "rules"}
	alertRuleKeys = []string{"enabled", "for", "min_requests", "resolve_after", "severity", "threshold", "window"}
	alertSeverity = []string{"critical", "info", "warning"}
)

// Alerts is x-quai.alerts: how the daemon's alert rules apply to the
// instance. Unset fields keep the daemon's values.
type Alerts struct {
	// Repeat is how often a notification of an alert still firing is sent
	// again; 0 keeps the daemon's.
	Repeat time.Duration `json:"repeat,omitempty"`
	// Channels names notification channels of the instance's organization
	// (or global ones) that receive the instance's alerts; empty means all
	// of the organization's and the global ones.
	Channels []string `json:"channels,omitempty"`
	// Rules overrides rules by name (AlertRuleNames).
	Rules map[string]AlertRule `json:"rules,omitempty"`
}

// AlertRule overrides one alert rule. Zero values keep the daemon's.
type AlertRule struct {
	// Enabled, when set, turns the rule on or off.
	Enabled *bool `json:"enabled,omitempty"`
	// Severity is critical, warning or info.
	Severity string `json:"severity,omitempty"`
	// For is how long a condition must hold before it fires.
	For time.Duration `json:"for,omitempty"`
	// Window is the span a rate or count is measured over.
	Window time.Duration `json:"window,omitempty"`
	// Threshold is the rule's limit, in its unit (ParseAlertThreshold).
	Threshold float64 `json:"threshold,omitempty"`
	// MinRequests is the fewest requests over the window for the 5xx and
	// latency rules to judge.
	MinRequests int64 `json:"min_requests,omitempty"`
	// ResolveAfter resolves an alert raised by an event (a crash) when no
	// new one came for that long.
	ResolveAfter time.Duration `json:"resolve_after,omitempty"`
}

// ErrAlertThreshold is returned by ParseAlertThreshold.
var ErrAlertThreshold = errors.New("invalid alert threshold")

// ParseAlertThreshold reads the threshold of an alert rule in the rule's
// unit: a percentage ("5%", or a ratio 0.05) for error_rate and disk, a
// duration ("800ms") for latency, returned in seconds, a count of
// restarts for restart_loop and a number of days ("14", "14d") for
// cert_expiry. Other rules take no threshold.
func ParseAlertThreshold(rule, s string) (float64, error) {
	s = strings.TrimSpace(s)
	bad := func(hint string) (float64, error) {
		return 0, fmt.Errorf("%w %q for %s: %s", ErrAlertThreshold, s, rule, hint)
	}
	switch rule {
	case "error_rate", "disk":
		var f float64
		var err error
		if p, ok := strings.CutSuffix(s, "%"); ok {
			f, err = strconv.ParseFloat(strings.TrimSpace(p), 64)
			f /= 100
		} else {
			f, err = strconv.ParseFloat(s, 64)
		}
		if err != nil || math.IsNaN(f) || f <= 0 || f > 1 {
			return bad("write a percentage between 0 and 100, e.g. 5%")
		}
		return f, nil
	case "latency":
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return bad("write a duration, e.g. 800ms or 2s")
		}
		return d.Seconds(), nil
	case "restart_loop":
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return bad("write a number of restarts, e.g. 3")
		}
		return float64(n), nil
	case "cert_expiry":
		n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
		if err != nil || n < 1 {
			return bad("write a number of days, e.g. 14")
		}
		return float64(n), nil
	}
	return bad("this rule takes no threshold")
}

// DecodeAlerts checks and decodes a document in the syntax of
// x-quai.alerts read from file (the daemon's alert configuration); the
// error lists every problem.
func DecodeAlerts(file string, doc any) (*Alerts, error) {
	c := &checker{idx: newPosIndex(), ds: &diagnostics{}}
	a := c.alerts("alerts", doc)
	if err := c.ds.err("", []string{file}); err != nil {
		return nil, err
	}
	return a, nil
}

// alerts decodes x-quai.alerts.
func (c *checker) alerts(path string, v any) *Alerts {
	m, ok := c.mapping(path, v)
	if !ok {
		return nil
	}
	c.keys(path, m, alertsKeys, nil)
	a := &Alerts{}
	if rv, ok := m["repeat"]; ok {
		a.Repeat, _ = c.duration(path+".repeat", rv)
	}
	if cv, ok := m["channels"]; ok {
		a.Channels, _ = c.stringList(path+".channels", cv)
	}
	if rv, ok := m["rules"]; ok {
		rm, ok := c.mapping(path+".rules", rv)
		if ok {
			a.Rules = map[string]AlertRule{}
			for _, name := range slices.Sorted(maps.Keys(rm)) {
				r := rm[name]
				rp := joinPath(path+".rules", name)
				if !slices.Contains(AlertRuleNames, name) {
					c.errf(rp, joinHints(didYouMean(name, AlertRuleNames), "the rules are "+strings.Join(AlertRuleNames, ", ")), "unknown alert rule %q", name)
					continue
				}
				if rule, ok := c.alertRule(rp, name, r); ok {
					a.Rules[name] = rule
				}
			}
		}
	}
	return a
}

// alertRule decodes one rule: a mapping, or `off`/false to turn it off.
func (c *checker) alertRule(path, name string, v any) (AlertRule, bool) {
	var r AlertRule
	switch v := v.(type) {
	case bool:
		r.Enabled = &v
		return r, true
	case string:
		if v == "off" || v == "on" {
			on := v == "on"
			r.Enabled = &on
			return r, true
		}
	}
	m, ok := c.mapping(path, v)
	if !ok {
		return r, false
	}
	c.keys(path, m, alertRuleKeys, nil)
	good := true
	if ev, ok := m["enabled"]; ok {
		if b, isBool := ev.(bool); isBool {
			r.Enabled = &b
		} else {
			c.errf(path+".enabled", "write true or false", "must be a boolean, got %s", describe(ev))
			good = false
		}
	}
	if sv, ok := m["severity"]; ok {
		if s, ok := c.str(path+".severity", sv); ok && slices.Contains(alertSeverity, s) {
			r.Severity = s
		} else if ok {
			c.errf(path+".severity", "use critical, warning or info", "unknown severity %q", s)
			good = false
		}
	}
	for _, kd := range []struct {
		key string
		dst *time.Duration
	}{{"for", &r.For}, {"resolve_after", &r.ResolveAfter}, {"window", &r.Window}} {
		key, dst := kd.key, kd.dst
		if dv, ok := m[key]; ok {
			d, ok := c.duration(path+"."+key, dv)
			*dst, good = d, good && ok
		}
	}
	if tv, ok := m["threshold"]; ok {
		if s, ok := c.scalar(path+".threshold", tv); ok {
			f, err := ParseAlertThreshold(name, s)
			if err != nil {
				c.errf(path+".threshold", "", "%v", err)
				good = false
			}
			r.Threshold = f
		}
	}
	if nv, ok := m["min_requests"]; ok {
		n, ok := c.integer(path+".min_requests", nv)
		if ok && n < 0 {
			c.errf(path+".min_requests", "write 0 or more", "min_requests must not be negative")
			ok = false
		}
		r.MinRequests, good = int64(n), good && ok
	}
	return r, good
}

// --- end x-quai.alerts ---------------------------------------------------------
