package lint

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/quai-dev/quai/internal/stack"
)

const baseYAML = `
x-env: &common
  SHARED_TOKEN: from-anchor
services:
  db:
    image: postgres:16.4
    environment:
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}
      POSTGRES_USER: shop
  web:
    image: example/web:1
    environment:
      <<: *common
      DATABASE_URL: postgres://shop:${POSTGRES_PASSWORD}@db:5432/shop
      API_TOKEN: hunter2
      HOST_SECRET:
      PRICE: "$$5"
`

const overlayYAML = `
services:
  web:
    environment:
      - API_TOKEN=${API_TOKEN}
      - CACHE_URL=redis://:literal@cache:6379
      - FROM_HOST
`

func TestParseSources(t *testing.T) {
	src, err := ParseSources([]string{"compose.yaml", "envs/prod.yaml"}, map[string][]byte{
		"compose.yaml":   []byte(baseYAML),
		"envs/prod.yaml": []byte(overlayYAML),
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		service, key string
		raw          string
		ok           bool
		interpolated bool
	}{
		{"db", "POSTGRES_PASSWORD", "${POSTGRES_PASSWORD}", true, true},
		{"db", "POSTGRES_USER", "shop", true, false},
		{"web", "SHARED_TOKEN", "from-anchor", true, false},
		{"web", "DATABASE_URL", "postgres://shop:${POSTGRES_PASSWORD}@db:5432/shop", true, true},
		{"web", "API_TOKEN", "${API_TOKEN}", true, true}, // the overlay wins
		{"web", "HOST_SECRET", "${HOST_SECRET}", true, true},
		{"web", "PRICE", "$$5", true, false},
		{"web", "CACHE_URL", "redis://:literal@cache:6379", true, false},
		{"web", "FROM_HOST", "${FROM_HOST}", true, true},
		{"web", "MISSING", "", false, false},
		{"nope", "X", "", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.service+"/"+tc.key, func(t *testing.T) {
			raw, ok := src.Env(tc.service, tc.key)
			if raw != tc.raw || ok != tc.ok {
				t.Errorf("Env = %q, %v; want %q, %v", raw, ok, tc.raw, tc.ok)
			}
			if ok && interpolated(raw) != tc.interpolated {
				t.Errorf("interpolated(%q) = %v, want %v", raw, !tc.interpolated, tc.interpolated)
			}
		})
	}
}

func TestParseSourcesRejectsBadYAML(t *testing.T) {
	_, err := ParseSources([]string{"compose.yaml"}, map[string][]byte{"compose.yaml": []byte("services: [\n")})
	if !errors.Is(err, ErrSources) {
		t.Errorf("err = %v, want ErrSources", err)
	}
}

// TestSecretRulesUseSources checks that, with Sources, interpolated values
// pass and literals are reported, although the model holds the same kind of
// value for both.
func TestSecretRulesUseSources(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "envs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"compose.yaml": baseYAML, "envs/prod.yaml": overlayYAML} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	web := with(clean("web"), func(s *stack.Service) {
		s.Environment = map[string]string{
			"DATABASE_URL": "postgres://shop:s3cret@db:5432/shop", // interpolated
			"API_TOKEN":    "tok",                                 // interpolated by the overlay
			"SHARED_TOKEN": "from-anchor",                         // literal
			"CACHE_URL":    "redis://:literal@cache:6379",         // literal password
			"ENVFILE_KEY":  "from-env-file",                       // no stack file sets it
		}
	})
	db := with(cleanDB("db"), func(s *stack.Service) {
		s.Environment = map[string]string{"POSTGRES_PASSWORD": "s3cret", "POSTGRES_USER": "shop"}
	})
	m := newModel("prod", web, db)
	m.Dir = dir
	m.Files = []string{"compose.yaml", "envs/prod.yaml"}
	m.SetPos("services.web.environment.SHARED_TOKEN", stack.Position{File: "compose.yaml", Line: 14, Column: 7})

	src, err := ReadSources(m)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range Check(m, Options{Sources: src}) {
		if f.Rule == "QL011" || f.Rule == "QL013" {
			got = append(got, f.Rule+" "+f.Service+" "+f.Position().String())
		}
	}
	want := []string{"QL011 web compose.yaml:14:7", "QL013 web compose.yaml:10:3"}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}

	// Without sources every value counts as literal.
	n := 0
	for _, f := range Check(m, Options{}) {
		if f.Rule == "QL011" || f.Rule == "QL013" {
			n++
		}
	}
	if n != 6 {
		t.Errorf("without sources: %d secret findings, want 6", n)
	}
}

func TestReadSourcesMissingFile(t *testing.T) {
	m := &stack.Model{Dir: t.TempDir(), Files: []string{"compose.yaml"}}
	if _, err := ReadSources(m); !errors.Is(err, ErrSources) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want ErrSources wrapping ErrNotExist", err)
	}
}

func TestScanRaw(t *testing.T) {
	tests := []struct {
		raw      string
		masked   string
		defaults []string
	}{
		{"plain", "plain", nil},
		{"${A}", "${0}", []string{""}},
		{"${A:-changeme}", "${0}", []string{"changeme"}},
		{"${A-x}/${B:-y}", "${0}/${1}", []string{"x", "y"}},
		{"${A:?set A}", "${0}", []string{""}},
		{"${A:+alt}", "${0}", []string{""}},
		{"${A:-${B}}", "${0}", []string{""}},
		{"${A:-${B:-deep}}", "${0}", []string{""}},
		{"pre$${A}post", "pre$${A}post", nil},
		{"postgres://u:${PW:?set PW in .env}@db/x?ssl=1", "postgres://u:${0}@db/x?ssl=1", []string{""}},
		{"${A:-}", "${0}", []string{""}},
		{"${unclosed", "${unclosed", nil},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			masked, defaults := scanRaw(tc.raw)
			if masked != tc.masked || !slices.Equal(defaults, tc.defaults) {
				t.Errorf("scanRaw = %q, %q; want %q, %q", masked, defaults, tc.masked, tc.defaults)
			}
		})
	}
}

func TestLiteralDefaults(t *testing.T) {
	const compose = `
services:
  db:
    environment:
      POSTGRES_PASSWORD: ${PW:-changeme}
      MYSQL_PASSWORD: ${PW:?set PW}
      REDIS_PASSWORD: ${PW:-${FALLBACK_PW}}
  web:
    environment:
      DATABASE_URL: postgres://u:${PW:?set PW in .env}@db:5432/x?sslmode=disable
      OTHER_URL: postgres://u:${PW:-pw}@db:5432/x
      HOST_URL: postgres://u:${PW}@${HOST:-db}:5432/x
`
	src, err := ParseSources([]string{"compose.yaml"}, map[string][]byte{"compose.yaml": []byte(compose)})
	if err != nil {
		t.Fatal(err)
	}
	db := with(cleanDB("db"), func(s *stack.Service) {
		s.Environment = map[string]string{"POSTGRES_PASSWORD": "changeme", "MYSQL_PASSWORD": "x", "REDIS_PASSWORD": "y"}
	})
	web := with(clean("web"), func(s *stack.Service) {
		s.Environment = map[string]string{"DATABASE_URL": "postgres://u:x@db:5432/x?sslmode=disable", "OTHER_URL": "postgres://u:pw@db:5432/x", "HOST_URL": "postgres://u:pw@db:5432/x"}
	})
	var got []string
	for _, f := range Check(newModel("prod", db, web), Options{Sources: src}) {
		if f.Rule == "QL011" || f.Rule == "QL013" {
			got = append(got, f.Rule+" "+f.Service+" "+f.Message)
		}
	}
	want := []string{
		`QL011 db service "db" sets POSTGRES_PASSWORD from a variable with a literal default, used whenever the variable is unset`,
		`QL013 web service "web" sets OTHER_URL to a URL whose password falls back to a literal default when its variable is unset`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
