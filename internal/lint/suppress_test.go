package lint

import (
	"cmp"
	"fmt"
	"slices"
	"testing"

	"github.com/quai-dev/quai/internal/stack"
)

func TestSuppressions(t *testing.T) {
	privileged := func(sup ...stack.Suppression) func() *stack.Model {
		return func() *stack.Model {
			m := newModel("prod",
				with(clean("web"), func(s *stack.Service) { s.Privileged = true; s.Suppress = sup }),
				with(clean("worker"), func(s *stack.Service) { s.Privileged = true }))
			for i := range sup {
				m.SetPos(fmt.Sprintf("services.web.x-quai.lint.ignore.%d", i), stack.Position{File: "compose.yaml", Line: 30 + i, Column: 11})
			}
			return m
		}
	}
	type hit struct{ rule, service string }
	tests := []struct {
		name  string
		model func() *stack.Model
		want  []hit
	}{
		{
			name:  "no suppression",
			model: privileged(),
			want:  []hit{{"QL001", "web"}, {"QL001", "worker"}},
		},
		{
			name:  "suppression silences its service only",
			model: privileged(stack.Suppression{Rule: "QL001", Reason: "needs /dev/fuse; OPS-7"}),
			want:  []hit{{"QL001", "worker"}},
		},
		{
			name:  "suppression without reason still silences but is reported",
			model: privileged(stack.Suppression{Rule: "QL001", Reason: "  "}),
			want:  []hit{{"QL001", "worker"}, {"QL030", "web"}},
		},
		{
			name:  "unknown rule",
			model: privileged(stack.Suppression{Rule: "QL999", Reason: "typo"}),
			want:  []hit{{"QL001", "web"}, {"QL001", "worker"}, {"QL031", "web"}},
		},
		{
			name:  "meta rule cannot be suppressed",
			model: privileged(stack.Suppression{Rule: "QL030", Reason: "no"}),
			want:  []hit{{"QL001", "web"}, {"QL001", "worker"}, {"QL031", "web"}},
		},
		{
			name:  "unknown rule without reason",
			model: privileged(stack.Suppression{Rule: "QL12"}),
			want:  []hit{{"QL001", "web"}, {"QL001", "worker"}, {"QL030", "web"}, {"QL031", "web"}},
		},
		{
			name:  "unused suppression",
			model: privileged(stack.Suppression{Rule: "QL001", Reason: "r"}, stack.Suppression{Rule: "QL024", Reason: "old"}),
			want:  []hit{{"QL001", "worker"}, {"QL032", "web"}},
		},
		{
			name: "suppression of a rule out of scope is not unused",
			model: func() *stack.Model {
				return newModel("dev", with(clean("web"), func(s *stack.Service) {
					s.Suppress = []stack.Suppression{{Rule: "QL022", Reason: "one replica is enough here"}}
				}))
			},
		},
		{
			name: "route finding is suppressed through its service",
			model: func() *stack.Model {
				m := newModel("prod", with(clean("web"), func(s *stack.Service) {
					s.Suppress = []stack.Suppression{{Rule: "QL016", Reason: "TLS ends at the load balancer"}}
				}))
				m.Routes[0].TLS = stack.TLSOff
				return m
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := Check(tc.model(), Options{})
			got := make([]hit, 0, len(fs))
			for _, f := range fs {
				got = append(got, hit{f.Rule, f.Service})
			}
			slices.SortFunc(got, func(a, b hit) int {
				return cmp.Or(cmp.Compare(a.rule, b.rule), cmp.Compare(a.service, b.service))
			})
			if (len(got) > 0 || len(tc.want) > 0) && !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v\n%s", got, tc.want, textOf(t, fs))
			}
		})
	}
}

func TestSuppressionFindingPointsAtEntry(t *testing.T) {
	m := newModel("prod", with(clean("web"), func(s *stack.Service) {
		s.Suppress = []stack.Suppression{{Rule: "QL001", Reason: "x"}, {Rule: "QL0001"}}
	}))
	entry := stack.Position{File: "compose.yaml", Line: 31, Column: 13}
	m.SetPos("services.web.x-quai.lint.ignore.1", entry)
	var got []stack.Position
	for _, f := range Check(m, Options{}) {
		if f.Rule == "QL030" || f.Rule == "QL031" {
			got = append(got, f.Position())
		}
	}
	if len(got) != 2 || got[0] != entry || got[1] != entry {
		t.Errorf("QL030/QL031 at %v, want both at %v", got, entry)
	}
}
