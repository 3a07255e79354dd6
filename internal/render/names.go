package render

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/quai-dev/quai/internal/stack"
)

// Label keys every rendered object carries, so quai (and people with
// kubectl) can find everything an instance owns and clean up orphans.
const (
	LabelName       = "app.kubernetes.io/name"
	LabelInstance   = "app.kubernetes.io/instance"
	LabelPartOf     = "app.kubernetes.io/part-of"
	LabelManagedBy  = "app.kubernetes.io/managed-by"
	LabelOrg        = "quai.dev/org"
	LabelProject    = "quai.dev/project"
	LabelEnv        = "quai.dev/env"
	LabelQInstance  = "quai.dev/instance"
	LabelService    = "quai.dev/service"
	LabelConfigHash = "quai.dev/config-hash"

	// ManagedBy is the value of LabelManagedBy.
	ManagedBy = "quai"
)

const maxLabel = 63

// Namespace returns the Kubernetes namespace of an instance:
// "<org>-<project>-<env>" (the identity's slug) made DNS-1123 safe.
//
// One namespace per instance, not per org+env, because Compose services find
// each other by bare service name ("db:5432" in DATABASE_URL): the Kubernetes
// Service must carry exactly the Compose service name, and two projects of
// the same org and env (both with a "db") could not share a namespace without
// renaming services and rewriting every reference. Per-instance namespaces
// also make the default-deny NetworkPolicy, quotas and `kubectl delete
// namespace` line up with quai's unit of install and removal. Projects of one
// org+env are grouped by the quai.dev/org and quai.dev/env labels on their
// namespaces, which NetworkPolicy namespaceSelectors and quotas can match.
func Namespace(id stack.Identity) string {
	return dnsLabel(id.Slug())
}

// dnsLabel makes s a DNS-1123 label (lowercase alphanumerics and '-', at
// most 63 characters, alphanumeric at both ends). A name that had to be
// shortened gets a hash suffix so that distinct inputs stay distinct.
func dnsLabel(s string) string {
	return sanitize(s, maxLabel, false)
}

// dns1035Label is dnsLabel that also starts with a letter, as Service names must.
func dns1035Label(s string) string {
	l := dnsLabel(s)
	if l == "" || (l[0] >= '0' && l[0] <= '9') {
		l = dnsLabel("s-" + l)
	}
	return l
}

// labelValue makes s a valid label value (alphanumerics, '-', '_', '.',
// alphanumeric at both ends, at most 63 characters).
func labelValue(s string) string {
	return sanitize(s, maxLabel, true)
}

func sanitize(s string, limit int, labelVal bool) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			if labelVal {
				b.WriteRune(r)
			} else {
				b.WriteRune(r + ('a' - 'A'))
			}
		case labelVal && (r == '_' || r == '.'):
			b.WriteRune(r)
		default:
			// One dash for any run of separators: "/var/cache" → "var-cache".
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "-") {
				b.WriteByte('-')
			}
		}
	}
	out := trimEnds(b.String())
	if len(out) > limit {
		sum := shortHash(s)
		out = trimEnds(out[:limit-len(sum)-1]) + "-" + sum
	}
	return out
}

func trimEnds(s string) string {
	isAlnum := func(c byte) bool {
		return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
	}
	for s != "" && !isAlnum(s[0]) {
		s = s[1:]
	}
	for s != "" && !isAlnum(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// shortHash is 8 hex digits of SHA-256: enough to keep generated names apart.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}
