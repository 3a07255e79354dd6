package sops

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	recA = "age1vk0p5tlw8q2aq2cka3qv0tu9tm3lwtqqk7tfy4pk6eyt9fg5gpls3llzfa"
	recB = "age1k5k3yg8d3dqz2ppecaqkk89swy9lawdwk9n7ge467ze6hk6hqals29ze6h"
)

func TestConfigRecipientsForUsesTheFirstMatchingRule(t *testing.T) {
	c, err := parseConfig([]byte(`creation_rules:
  - path_regex: ^secrets/prod\.yaml$
    age: ` + recA + `, ` + recB + `
  - path_regex: ^orgs/acme/secrets/.*\.yaml$
    age:
      - ` + recB + `
  - age: ` + recA + `
`))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]string{
		"secrets/prod.yaml":           {recA, recB},
		"orgs/acme/secrets/prod.yaml": {recB},
		"secrets/staging.yaml":        {recA}, // the rule without path_regex matches all
	}
	for path, want := range cases {
		if got := c.RecipientsFor(path); !slices.Equal(got, want) {
			t.Errorf("RecipientsFor(%q) = %v; want %v", path, got, want)
		}
	}
}

func TestConfigSetRuleAndWriteKeepWhatQuaiDoesNotManage(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".sops.yaml")
	orig := `# project secrets
stores:
  yaml:
    indent: 2
creation_rules:
  - path_regex: ^secrets/prod\.yaml$
    encrypted_regex: ^(data|stringData)$
    age: ` + recA + `
  - path_regex: ^legacy/.*$
    pgp: FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4
`
	if err := os.WriteFile(path, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := ReadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	c.SetRule(`^secrets/prod\.yaml$`, []string{recA, recB})
	c.SetRule(`^orgs/acme/secrets/prod\.yaml$`, []string{recB})
	if err := c.Write(path); err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"# project secrets", "indent: 2", "encrypted_regex: ^(data|stringData)$", "pgp: FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4", "age: " + recA + "," + recB} {
		if !strings.Contains(string(out), s) {
			t.Errorf("written config lacks %q:\n%s", s, out)
		}
	}
	c2, err := ReadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{
		{PathRegex: `^orgs/acme/secrets/prod\.yaml$`, Age: []string{recB}},
		{PathRegex: `^secrets/prod\.yaml$`, Age: []string{recA, recB}},
		{PathRegex: `^legacy/.*$`},
	}
	if !slices.EqualFunc(c2.Rules, want, func(a, b Rule) bool { return a.PathRegex == b.PathRegex && slices.Equal(a.Age, b.Age) }) {
		t.Errorf("rules after write = %+v; want %+v", c2.Rules, want)
	}
}

func TestConfigMissingFileIsEmptyAndWriteCreatesIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".sops.yaml")
	c, err := ReadConfig(path)
	if err != nil || len(c.Rules) != 0 {
		t.Fatalf("ReadConfig of a missing file = %+v, %v", c, err)
	}
	if got := c.RecipientsFor("secrets/prod.yaml"); got != nil {
		t.Errorf("RecipientsFor with no rules = %v", got)
	}
	c.SetRule(`^secrets/prod\.yaml$`, []string{recA})
	if err := c.Write(path); err != nil {
		t.Fatal(err)
	}
	c2, err := ReadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := c2.RecipientsFor("secrets/prod.yaml"); !slices.Equal(got, []string{recA}) {
		t.Errorf("RecipientsFor after write = %v", got)
	}
}

func TestConfigRejectsMalformed(t *testing.T) {
	for name, data := range map[string]string{
		"rules not a list": "creation_rules: yes\n",
		"bad regex":        "creation_rules:\n  - path_regex: '('\n",
		"age a mapping":    "creation_rules:\n  - age: {a: b}\n",
		"top-level list":   "- a\n",
	} {
		if _, err := parseConfig([]byte(data)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: err = %v; want ErrFormat", name, err)
		}
	}
}
