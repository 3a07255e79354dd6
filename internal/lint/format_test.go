package lint

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/goldentest"
	"github.com/quai-dev/quai/internal/stack"
)

// sampleFindings is a small set with every severity, an unknown line and two
// files, unsorted on purpose.
func sampleFindings() []Finding {
	m := newModel("prod",
		with(clean("web"), func(s *stack.Service) { s.Privileged = true; s.ContainerName = "web"; s.ReadOnly = false }),
		with(clean("worker"), func(s *stack.Service) { s.Suppress = []stack.Suppression{{Rule: "QL0001"}} }))
	m.SetPos("services.web.privileged", stack.Position{File: "envs/prod.yaml", Line: 3, Column: 5})
	m.SetPos("services.web.container_name", stack.Position{File: "compose.yaml", Line: 12, Column: 5})
	return Check(m, Options{})
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	if err := WriteText(&b, sampleFindings()); err != nil {
		t.Fatal(err)
	}
	want := `compose.yaml:10:3: info QL029 stateless service "web" has a writable root filesystem (hint: set ` + "`read_only: true`" + ` and mount a tmpfs where the service writes scratch files)
compose.yaml:12:5: warning QL024 service "web" sets container_name "web" (hint: remove container_name; quai names and labels containers per instance and replica)
compose.yaml:20:3: warning QL030 service "worker" suppresses QL0001 without a reason (hint: add ` + "`reason:`" + ` saying why the rule does not apply and where it is tracked)
compose.yaml:20:3: warning QL031 service "worker" suppresses "QL0001", which is not a quai lint rule (hint: use an ID listed by ` + "`quai lint --rules`" + `)
envs/prod.yaml:3:5: error QL001 service "web" runs privileged (hint: remove ` + "`privileged: true`" + `; add the one capability the service needs with cap_add instead)
5 findings: 1 error, 3 warnings, 1 info
`
	if got := b.String(); got != want {
		t.Errorf("text output:\n%s\nwant:\n%s", got, want)
	}

	b.Reset()
	if err := WriteText(&b, nil); err != nil {
		t.Fatal(err)
	}
	if b.String() != "no findings\n" {
		t.Errorf("empty text output = %q", b.String())
	}
}

func TestTextPosition(t *testing.T) {
	tests := []struct {
		name string
		f    Finding
		want string
	}{
		{"full", Finding{File: "compose.yaml", Line: 3, Column: 5}, "compose.yaml:3:5"},
		{"no column", Finding{File: "compose.yaml", Line: 3}, "compose.yaml:3"},
		{"file only", Finding{File: "compose.yaml"}, "compose.yaml"},
		{"nothing", Finding{}, "-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := textPos(tc.f); got != tc.want {
				t.Errorf("textPos = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, sampleFindings()); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, b.String())
	}
	if len(got) != 5 {
		t.Fatalf("%d findings, want 5", len(got))
	}
	last := got[4]
	want := map[string]any{
		"rule": "QL001", "severity": "error", "service": "web", "file": "envs/prod.yaml",
		"line": float64(3), "column": float64(5), "message": `service "web" runs privileged`,
	}
	for k, v := range want {
		if last[k] != v {
			t.Errorf("%s = %v, want %v", k, last[k], v)
		}
	}
	if h, _ := last["hint"].(string); !strings.Contains(h, "privileged") {
		t.Errorf("hint = %q", h)
	}

	b.Reset()
	if err := WriteJSON(&b, nil); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(b.String()) != "[]" {
		t.Errorf("no findings must be [], got %q", b.String())
	}
}

// sarifDoc is the part of SARIF 2.1.0 that consumers (GitHub code scanning,
// VS Code SARIF viewer) require, decoded independently of the writer's types.
type sarifDoc struct {
	Schema  string `json:"$schema"`
	Version string `json:"version"`
	Runs    []struct {
		Tool struct {
			Driver struct {
				Name           string `json:"name"`
				InformationURI string `json:"informationUri"`
				Rules          []struct {
					ID               string `json:"id"`
					Name             string `json:"name"`
					ShortDescription struct {
						Text string `json:"text"`
					} `json:"shortDescription"`
					FullDescription struct {
						Text string `json:"text"`
					} `json:"fullDescription"`
					Help struct {
						Text     string `json:"text"`
						Markdown string `json:"markdown"`
					} `json:"help"`
					DefaultConfiguration struct {
						Level string `json:"level"`
					} `json:"defaultConfiguration"`
				} `json:"rules"`
			} `json:"driver"`
		} `json:"tool"`
		OriginalURIBaseIDs map[string]struct {
			URI string `json:"uri"`
		} `json:"originalUriBaseIds"`
		Results []struct {
			RuleID    string `json:"ruleId"`
			RuleIndex *int   `json:"ruleIndex"`
			Level     string `json:"level"`
			Message   struct {
				Text string `json:"text"`
			} `json:"message"`
			Locations []struct {
				PhysicalLocation struct {
					ArtifactLocation struct {
						URI       string `json:"uri"`
						URIBaseID string `json:"uriBaseId"`
					} `json:"artifactLocation"`
					Region *struct {
						StartLine   int `json:"startLine"`
						StartColumn int `json:"startColumn"`
					} `json:"region"`
				} `json:"physicalLocation"`
			} `json:"locations"`
		} `json:"results"`
	} `json:"runs"`
}

func TestWriteSARIF(t *testing.T) {
	fs := append(sampleFindings(), Finding{Rule: "QL018", Severity: SeverityWarning, Service: "x", File: "orgs/acme/prod.yaml", Message: "m", Hint: "h"})
	var b bytes.Buffer
	if err := WriteSARIF(&b, Report{Findings: fs, Dir: "/srv/shop", ToolVersion: "1.2.3"}); err != nil {
		t.Fatal(err)
	}
	var doc sarifDoc
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("SARIF does not decode into the required structure: %v", err)
	}
	if doc.Version != "2.1.0" || !strings.Contains(doc.Schema, "sarif-2.1.0") {
		t.Errorf("version %q schema %q", doc.Version, doc.Schema)
	}
	if len(doc.Runs) != 1 {
		t.Fatalf("%d runs, want 1", len(doc.Runs))
	}
	run := doc.Runs[0]
	if run.Tool.Driver.Name == "" || run.Tool.Driver.InformationURI == "" {
		t.Errorf("driver name/informationUri missing: %+v", run.Tool.Driver)
	}
	rules := Rules()
	if len(run.Tool.Driver.Rules) != len(rules) {
		t.Fatalf("%d SARIF rules, want %d", len(run.Tool.Driver.Rules), len(rules))
	}
	for i, r := range run.Tool.Driver.Rules {
		if r.ID != rules[i].ID || r.Name == "" || r.ShortDescription.Text != rules[i].Title ||
			r.FullDescription.Text == "" || r.Help.Text == "" || r.Help.Markdown == "" {
			t.Errorf("rule %d incomplete: %+v", i, r)
		}
		if want := sarifLevel(rules[i].Severity); r.DefaultConfiguration.Level != want {
			t.Errorf("%s default level %q, want %q", r.ID, r.DefaultConfiguration.Level, want)
		}
	}
	if got := run.OriginalURIBaseIDs[projectRoot].URI; got != "file:///srv/shop/" {
		t.Errorf("project root URI = %q", got)
	}
	if len(run.Results) != len(fs) {
		t.Fatalf("%d results, want %d", len(run.Results), len(fs))
	}
	levels := map[string]bool{"error": true, "warning": true, "note": true}
	for i, res := range run.Results {
		f := fs[i]
		if res.RuleID != f.Rule || res.RuleIndex == nil || run.Tool.Driver.Rules[*res.RuleIndex].ID != f.Rule {
			t.Errorf("result %d: ruleId %q index %v, want %s", i, res.RuleID, res.RuleIndex, f.Rule)
		}
		if !levels[res.Level] || res.Level != sarifLevel(f.Severity) {
			t.Errorf("result %d: level %q for severity %s", i, res.Level, f.Severity)
		}
		if !strings.HasPrefix(res.Message.Text, f.Message) {
			t.Errorf("result %d: message %q", i, res.Message.Text)
		}
		if len(res.Locations) != 1 {
			t.Fatalf("result %d: %d locations", i, len(res.Locations))
		}
		loc := res.Locations[0].PhysicalLocation
		if loc.ArtifactLocation.URI != f.File || filepath.IsAbs(loc.ArtifactLocation.URI) || loc.ArtifactLocation.URIBaseID != projectRoot {
			t.Errorf("result %d: artifact %+v, want %q relative to %s", i, loc.ArtifactLocation, f.File, projectRoot)
		}
		switch {
		case f.Line == 0 && loc.Region != nil:
			t.Errorf("result %d: region %+v for an unknown line", i, loc.Region)
		case f.Line > 0 && (loc.Region == nil || loc.Region.StartLine != f.Line || loc.Region.StartColumn != f.Column):
			t.Errorf("result %d: region %+v, want %d:%d", i, loc.Region, f.Line, f.Column)
		}
	}
}

func TestParseFormatAndSeverity(t *testing.T) {
	for _, v := range []string{"text", "JSON", "sarif"} {
		if _, err := ParseFormat(v); err != nil {
			t.Errorf("ParseFormat(%q): %v", v, err)
		}
	}
	if _, err := ParseFormat("xml"); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("ParseFormat(xml) = %v", err)
	}
	if _, err := ParseSeverity("fatal"); !errors.Is(err, ErrUnknownSeverity) {
		t.Errorf("ParseSeverity(fatal) = %v", err)
	}
	fs := []Finding{{Severity: SeverityWarning}, {Severity: SeverityInfo}}
	if Exceeds(fs, SeverityError) || !Exceeds(fs, SeverityWarning) || !Exceeds(fs, SeverityInfo) {
		t.Error("Exceeds disagrees with severity order error > warning > info")
	}
}

func TestWriteRules(t *testing.T) {
	var b bytes.Buffer
	if err := WriteRulesText(&b, Rules()); err != nil {
		t.Fatal(err)
	}
	for _, r := range Rules() {
		if !strings.Contains(b.String(), r.ID) || !strings.Contains(b.String(), r.Explanation) {
			t.Errorf("rule listing lacks %s or its explanation", r.ID)
		}
	}
	b.Reset()
	if err := WriteRulesJSON(&b, Rules()); err != nil {
		t.Fatal(err)
	}
	var got []Rule
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(Rules()) || got[0].ID != "QL001" || got[0].Explanation == "" || got[0].Severity != SeverityError {
		t.Errorf("rules JSON: %+v", got[:1])
	}
}

// TestDocs keeps docs/lint-rules.md generated from the rule table.
func TestDocs(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "lint-rules.md")
	got := Markdown()
	goldentest.Check(t, path, got)
	for _, r := range Rules() {
		if !bytes.Contains(got, []byte("## "+r.ID+"\n")) {
			t.Errorf("docs lack a section for %s", r.ID)
		}
	}
}
