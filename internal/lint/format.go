package lint

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
)

// ErrUnknownFormat is returned by ParseFormat for a name it does not know.
var ErrUnknownFormat = errors.New("unknown output format")

// Format is an output format for findings.
type Format string

// Formats.
const (
	FormatText  Format = "text"
	FormatJSON  Format = "json"
	FormatSARIF Format = "sarif"
)

// ParseFormat parses "text", "json" or "sarif".
func ParseFormat(v string) (Format, error) {
	switch f := Format(strings.ToLower(v)); f {
	case FormatText, FormatJSON, FormatSARIF:
		return f, nil
	}
	return "", fmt.Errorf("%w %q: use text, json or sarif", ErrUnknownFormat, v)
}

// Report is what the writers render: findings plus what SARIF needs to know
// about the tool and the project.
type Report struct {
	Findings []Finding
	// Dir is the absolute project directory; finding files are relative to it.
	Dir string
	// ToolVersion is quai's version, recorded in SARIF.
	ToolVersion string
}

// Write renders r in format f.
func Write(w io.Writer, f Format, r Report) error {
	switch f {
	case FormatJSON:
		return WriteJSON(w, r.Findings)
	case FormatSARIF:
		return WriteSARIF(w, r)
	default:
		return WriteText(w, r.Findings)
	}
}

// WriteText writes one line per finding,
// "file:line:col: severity ID message (hint: ...)", then a summary line.
func WriteText(w io.Writer, fs []Finding) error {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(textPos(f))
		fmt.Fprintf(&b, ": %s %s %s", f.Severity, f.Rule, f.Message)
		if f.Hint != "" {
			fmt.Fprintf(&b, " (hint: %s)", f.Hint)
		}
		b.WriteByte('\n')
	}
	b.WriteString(Summary(fs))
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

func textPos(f Finding) string {
	file := cmp.Or(f.File, "-")
	switch {
	case f.Line == 0:
		return file
	case f.Column == 0:
		return fmt.Sprintf("%s:%d", file, f.Line)
	default:
		return fmt.Sprintf("%s:%d:%d", file, f.Line, f.Column)
	}
}

// Summary is the one-line count of findings by severity.
func Summary(fs []Finding) string {
	if len(fs) == 0 {
		return "no findings"
	}
	n := Count(fs)
	return fmt.Sprintf("%s: %s, %s, %s", plural(len(fs), "finding"),
		plural(n[SeverityError], "error"), plural(n[SeverityWarning], "warning"), plural(n[SeverityInfo], "info"))
}

func plural(n int, word string) string {
	if n == 1 || word == "info" {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// WriteJSON writes the findings as a JSON array (never null), indented.
func WriteJSON(w io.Writer, fs []Finding) error {
	if fs == nil {
		fs = []Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(fs)
}

// WriteRulesText lists every rule: ID, severity, scope and title, then the
// explanation indented below.
func WriteRulesText(w io.Writer, rules []Rule) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%-6s %-8s %-8s %s\n", "ID", "SEVERITY", "SCOPE", "TITLE")
	for _, r := range rules {
		fmt.Fprintf(&b, "%-6s %-8s %-8s %s\n", r.ID, r.Severity, r.Scope, r.Title)
		fmt.Fprintf(&b, "%25s%s\n", "", r.Explanation)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteRulesJSON lists every rule as a JSON array.
func WriteRulesJSON(w io.Writer, rules []Rule) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rules)
}

// SARIF 2.1.0, the subset quai writes. Field names follow the specification
// (https://docs.oasis-open.org/sarif/sarif/v2.1.0/).
const (
	sarifVersion = "2.1.0"
	sarifSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	docsURL      = "https://github.com/quai-dev/quai/blob/main/docs/lint-rules.md"
	projectRoot  = "PROJECTROOT"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool               sarifTool                   `json:"tool"`
	OriginalURIBaseIDs map[string]sarifArtifactLoc `json:"originalUriBaseIds,omitempty"`
	Results            []sarifResult               `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifRule struct {
	ID                   string          `json:"id"`
	Name                 string          `json:"name"`
	ShortDescription     sarifText       `json:"shortDescription"`
	FullDescription      sarifText       `json:"fullDescription"`
	Help                 sarifText       `json:"help"`
	HelpURI              string          `json:"helpUri"`
	DefaultConfiguration sarifRuleConfig `json:"defaultConfiguration"`
	Properties           sarifRuleProps  `json:"properties"`
}

type sarifRuleConfig struct {
	Level string `json:"level"`
}

type sarifRuleProps struct {
	Tags []string `json:"tags"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	RuleIndex int             `json:"ruleIndex"`
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifactLoc `json:"artifactLocation"`
	Region           *sarifRegion     `json:"region,omitempty"`
}

type sarifArtifactLoc struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

// sarifLevel maps a severity to a SARIF result level.
func sarifLevel(s Severity) string {
	switch s {
	case SeverityError:
		return "error"
	case SeverityWarning:
		return "warning"
	}
	return "note"
}

// WriteSARIF writes a SARIF 2.1.0 log with one run: every rule in
// tool.driver.rules and one result per finding, located relative to the
// project directory.
func WriteSARIF(w io.Writer, r Report) error {
	rules := allRules()
	index := make(map[string]int, len(rules))
	driver := sarifDriver{Name: "quai-lint", Version: r.ToolVersion, InformationURI: docsURL, Rules: make([]sarifRule, 0, len(rules))}
	for i, rule := range rules {
		index[rule.ID] = i
		driver.Rules = append(driver.Rules, sarifRule{
			ID:               rule.ID,
			Name:             sarifName(rule.Title),
			ShortDescription: sarifText{Text: rule.Title},
			FullDescription:  sarifText{Text: rule.Explanation},
			Help: sarifText{
				Text:     rule.Explanation + " Fix: " + rule.Hint + ".",
				Markdown: fmt.Sprintf("%s\n\n**Fix:** %s\n\n```yaml\n%s\n```", rule.Explanation, rule.Hint, rule.Fix),
			},
			HelpURI:              docsURL + "#" + strings.ToLower(rule.ID),
			DefaultConfiguration: sarifRuleConfig{Level: sarifLevel(rule.Severity)},
			Properties:           sarifRuleProps{Tags: []string{string(rule.Category), "scope:" + string(rule.Scope)}},
		})
	}
	run := sarifRun{Tool: sarifTool{Driver: driver}, Results: make([]sarifResult, 0, len(r.Findings))}
	if r.Dir != "" {
		u := url.URL{Scheme: "file", Path: filepath.ToSlash(r.Dir) + "/"}
		run.OriginalURIBaseIDs = map[string]sarifArtifactLoc{projectRoot: {URI: u.String()}}
	}
	for _, f := range r.Findings {
		loc := sarifPhysical{ArtifactLocation: sarifArtifactLoc{URI: filepath.ToSlash(f.File), URIBaseID: projectRoot}}
		if f.Line > 0 {
			loc.Region = &sarifRegion{StartLine: f.Line, StartColumn: f.Column}
		}
		msg := f.Message
		if f.Hint != "" {
			msg += " (hint: " + f.Hint + ")"
		}
		run.Results = append(run.Results, sarifResult{
			RuleID:    f.Rule,
			RuleIndex: index[f.Rule],
			Level:     sarifLevel(f.Severity),
			Message:   sarifText{Text: msg},
			Locations: []sarifLocation{{PhysicalLocation: loc}},
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Schema: sarifSchema, Version: sarifVersion, Runs: []sarifRun{run}})
}

// sarifName turns a title into the PascalCase identifier SARIF viewers show.
func sarifName(title string) string {
	var b strings.Builder
	for _, w := range strings.FieldsFunc(title, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9')
	}) {
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}
