package lint

import (
	"fmt"
	"strings"
)

// Markdown renders the rule reference, docs/lint-rules.md, from the rule
// table; a test keeps the committed file in step with it.
func Markdown() []byte {
	var b strings.Builder
	b.WriteString(`# quai lint rules

<!-- Generated from internal/lint/rules.go by ` + "`go test ./internal/lint -run TestDocs -update`" + `; do not edit. -->

` + "`quai lint`" + ` checks a stack — the Compose file, its overlays and the ` + "`x-quai`" + `
settings, as loaded for one environment — against the rules below.

` + "```" + `
quai lint [DIR] [--env dev] [--org ORG] [--format text|json|sarif] [--fail-on error|warning]
quai lint --rules          # list the rules (add --json for JSON)
` + "```" + `

Exit status: 0 when no finding is at or above ` + "`--fail-on`" + ` (default ` + "`error`" + `), 1 when
one is, 2 when the stack cannot be loaded.

**Scope.** A rule applies in ` + "`all`" + ` environments, in ` + "`non-dev`" + ` ones (every environment
except ` + "`dev`" + `, ` + "`development`" + ` and ` + "`local`" + `), or in ` + "`prod`" + ` ones (` + "`prod`" + `, ` + "`production`" + `).
Lint the environment you are about to deploy: ` + "`quai lint --env prod`" + `.

**Suppressing a rule.** When a rule does not apply to a service, say so in the service,
with a reason; the reason is required (QL030), the rule must exist (QL031), and a
suppression that silences nothing is reported (QL032):

` + "```yaml" + `
services:
  legacy:
    x-quai:
      lint:
        ignore:
          - rule: QL012
            reason: "the legacy image needs root; tracked in OPS-42"
` + "```" + `

Findings about a route (QL016) belong to the route's service.

| ID | Severity | Scope | Category | Title |
| --- | --- | --- | --- | --- |
`)
	rules := allRules()
	for _, r := range rules {
		fmt.Fprintf(&b, "| [%s](#%s) | %s | %s | %s | %s |\n", r.ID, strings.ToLower(r.ID), r.Severity, r.Scope, r.Category, r.Title)
	}
	for _, r := range rules {
		fmt.Fprintf(&b, "\n## %s\n\n**%s** — %s, scope `%s`, %s.\n\n%s\n", r.ID, r.Title, r.Severity, r.Scope, r.Category, r.Explanation)
		if r.Notes != "" {
			fmt.Fprintf(&b, "\n%s\n", r.Notes)
		}
		fmt.Fprintf(&b, "\nFlagged:\n\n```yaml\n%s\n```\n\nFix: %s.\n\n```yaml\n%s\n```\n", r.Example, r.Hint, r.Fix)
	}
	return []byte(b.String())
}
