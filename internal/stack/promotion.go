package stack

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Promotion is x-quai.promotion: the rules a promotion into this stack's
// environment must satisfy (`quai promote --to ENV`). It is read from the
// target's stack as loaded for the target environment and organization, so
// it belongs in the target's overlay (envs/prod.yaml); written in the base
// file it applies to every environment promoted into.
type Promotion struct {
	// From lists the environments whose releases may be promoted here.
	From []string `json:"from"`
	// MinHealthy is how long the source release must have been active and
	// healthy, counted from its switch-over; 0 means no minimum.
	MinHealthy time.Duration `json:"min_healthy,omitempty"`
	// BackupMaxAge asks for a backup of the target newer than this before
	// its release changes; 0 means no backup is required.
	BackupMaxAge time.Duration `json:"backup_max_age,omitempty"`
	// RequireApproval asks for the approval of a user other than the one
	// who promotes.
	RequireApproval bool `json:"require_approval,omitempty"`
	// Where maps each rule's key (from, min_healthy, ...) to where it was
	// written, so a refusal can point at the rule.
	Where map[string]Position `json:"where,omitempty"`
}

var promotionKeys = []string{"backup_max_age", "from", "min_healthy", "require_approval"}

// promotion checks x-quai.promotion; it returns nil when the block is
// invalid (the problems are reported) or absent.
func (c *checker) promotion(path string, v any) *Promotion {
	m, ok := c.mapping(path, v)
	if !ok {
		return nil
	}
	c.keys(path, m, promotionKeys, nil)
	p := &Promotion{Where: map[string]Position{}}
	good := true
	for _, k := range promotionKeys {
		if _, ok := m[k]; ok {
			p.Where[k] = c.idx.lookup(joinPath(path, k))
		}
	}
	if fv, ok := m["from"]; ok {
		fp := path + ".from"
		if s, isStr := fv.(string); isStr {
			c.errf(fp, fmt.Sprintf("write a list, e.g. from: [%s]", s), "must be a list of environments, got the string %q", s)
			good = false
		} else if envs, ok := c.stringList(fp, fv); ok {
			for i, env := range envs {
				if !nameRe.MatchString(env) {
					c.errf(joinPath(fp, fmt.Sprint(i)), "environment names use lowercase letters, digits and dashes, e.g. staging", "invalid environment name %q", env)
					good = false
				}
			}
			if len(envs) == 0 {
				c.errf(fp, "name the environments that may promote here, e.g. from: [staging]", "from is empty: no environment could promote here")
				good = false
			}
			p.From = slices.Compact(slices.Sorted(slices.Values(envs)))
		} else {
			good = false
		}
	} else {
		c.errf(path, "name the environments that may promote here, e.g. from: [staging]", "promotion has no from")
		good = false
	}
	for _, d := range []struct {
		key string
		to  *time.Duration
	}{{"min_healthy", &p.MinHealthy}, {"backup_max_age", &p.BackupMaxAge}} {
		dv, ok := m[d.key]
		if !ok {
			continue
		}
		if *d.to, ok = c.duration(joinPath(path, d.key), dv); !ok {
			good = false
		}
	}
	if av, ok := m["require_approval"]; ok {
		if b, ok := av.(bool); ok {
			p.RequireApproval = b
		} else {
			c.errf(path+".require_approval", "write require_approval: true or false", "must be a boolean, got %s", describe(av))
			good = false
		}
	}
	if !good {
		return nil
	}
	return p
}

// duration reads a positive Go duration such as 10m or 24h.
func (c *checker) duration(path string, v any) (time.Duration, bool) {
	s, ok := c.str(path, v)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	switch {
	case err != nil:
		c.errf(path, "write a duration such as 10m, 1h30m or 24h", "invalid duration %q", s)
		return 0, false
	case d <= 0:
		c.errf(path, "write a duration such as 10m, or leave the key out", "the duration must be more than 0, got %q", s)
		return 0, false
	}
	return d, true
}

// WithImages returns a copy of m whose services run the images in pins
// (service → image id or repo@sha256 reference), with their build settings
// dropped and their hashes recomputed, so that a changed image shows as a
// changed service and the model records what runs. Services without a pin
// are shared with m, which itself is never changed.
func (m *Model) WithImages(pins map[string]string) *Model {
	out := *m
	out.Services = make([]*Service, len(m.Services))
	for i, svc := range m.Services {
		out.Services[i] = svc
		if ref, ok := pins[svc.Name]; ok && ref != "" {
			c := *svc
			c.Image, c.Build = ref, nil
			c.Hash = serviceHash(&c, m.Dir)
			out.Services[i] = &c
		}
	}
	return &out
}
