package stack

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/schema"
)

// Errors from compose-go are plain strings. These patterns recognise the
// ones a stack author can cause, to point at the key and say what to do.
var (
	parseErrRe      = regexp.MustCompile(`(?s)^failed to parse (.+?): (.*)$`)
	validatingRe    = regexp.MustCompile(`(?s)^validating (.+?): (\S*) (.*)$`)
	additionalRe    = regexp.MustCompile(`^additional propert(?:y|ies) (.+) (?:is |are )?not allowed$`)
	quotedRe        = regexp.MustCompile(`'([^']*)'`)
	interpolateRe   = regexp.MustCompile(`^error while interpolating (\S+): (.*)$`)
	badFormatRe     = regexp.MustCompile(`^invalid interpolation format for (\S+?)\.?$`)
	requiredVarRe   = regexp.MustCompile(`^required variable (\S+) is missing a value(?:: (.*))?$`)
	undefinedDepRe  = regexp.MustCompile(`^service "([^"]+)" depends on undefined service "([^"]+)"`)
	undefinedRefRe  = regexp.MustCompile(`^service "([^"]+)" refers to undefined (volume|secret|config|network|build secret) "?([^":]+?)"?(?::|$)`)
	noImageRe       = regexp.MustCompile(`^service "([^"]+)" has neither an image nor a build context specified`)
	servicePrefixRe = regexp.MustCompile(`^(services\.[^:\s]+):? (.*)$`)
	mountedTwiceRe  = regexp.MustCompile(`^(services\.\S+): target (\S+) already mounted as (\S+)$`)
	invalidSuffixRe = regexp.MustCompile(`: invalid compose project$`)
	cycleRe         = regexp.MustCompile(`dependency cycle detected: (.*)$`)
	castRe          = regexp.MustCompile(`^failed to cast to expected type: (.*)$`)
)

// composeSchemaKeys returns the keys the Compose schema allows at the top
// level and in a service, for did-you-mean hints.
var composeSchemaKeys = sync.OnceValues(func() ([]string, []string) {
	type object struct {
		Properties map[string]any `json:"properties"`
	}
	var s struct {
		object
		Defs map[string]object `json:"$defs"`
	}
	if err := json.Unmarshal([]byte(schema.Schema), &s); err != nil {
		return nil, nil
	}
	// A service is a container spec plus the service-only keys.
	service := maps.Clone(s.Defs["container_spec"].Properties)
	if service == nil {
		service = map[string]any{}
	}
	maps.Copy(service, s.Defs["service"].Properties)
	return slices.Sorted(maps.Keys(s.Properties)), slices.Sorted(maps.Keys(service))
})

// mapComposeError turns a compose-go load error into diagnostics with
// positions.
func mapComposeError(err error, dir string, files []string, idx *posIndex, ds *diagnostics) {
	msg := err.Error()
	rel := func(f string) string {
		if r, err := filepath.Rel(dir, f); err == nil && !strings.HasPrefix(r, "..") {
			return filepath.ToSlash(r)
		}
		return f
	}
	if m := parseErrRe.FindStringSubmatch(msg); m != nil {
		d := yamlDiagnostic(rel(m[1]), m[2])
		ds.list = append(ds.list, *d)
		return
	}
	if m := validatingRe.FindStringSubmatch(msg); m != nil {
		schemaError(m[2], m[3], idx, ds)
		return
	}
	for _, line := range splitErrors(msg) {
		composeLine(line, dir, files, idx, ds)
	}
}

// splitErrors splits errors.Join output, keeping the continuation lines of
// an "invalid interpolation format" error with it.
func splitErrors(msg string) []string {
	var out []string
	for _, line := range strings.Split(msg, "\n") {
		last := len(out) - 1
		switch {
		case strings.HasPrefix(line, "You may need to escape"):
		case last >= 0 && strings.HasPrefix(out[last], "invalid interpolation format") && !strings.Contains(out[last], "\x00"):
			// The template itself follows the advice line.
			out[last] += "\x00" + line
		case strings.TrimSpace(line) != "":
			out = append(out, line)
		}
	}
	return out
}

func composeLine(line, dir string, files []string, idx *posIndex, ds *diagnostics) {
	add := func(path, hint, format string, args ...any) {
		ds.add(idx.lookup(path), path, hint, format, args...)
	}
	line = invalidSuffixRe.ReplaceAllString(line, "")
	if tmpl, template, ok := strings.Cut(line, "\x00"); ok {
		if m := badFormatRe.FindStringSubmatch(tmpl); m != nil {
			add(m[1], "write $$ for a literal $, and ${NAME}, ${NAME:-default} or ${NAME:?message} for variables", "invalid interpolation in %q", template)
			return
		}
		line = tmpl
	}
	if m := interpolateRe.FindStringSubmatch(line); m != nil {
		path, cause := m[1], m[2]
		if r := requiredVarRe.FindStringSubmatch(cause); r != nil {
			hint := fmt.Sprintf("set %s in the environment or in the project's .env file", r[1])
			if r[2] != "" {
				hint = r[2]
			}
			add(path, hint, "required variable %s is not set", r[1])
			return
		}
		if c := castRe.FindStringSubmatch(cause); c != nil {
			cause = c[1]
			if v, ok := strings.CutPrefix(cause, "invalid boolean: "); ok {
				add(path, "use true or false", "must be true or false, got %q", v)
				return
			}
		}
		add(path, "", "%s", cause)
		return
	}
	if m := cycleRe.FindStringSubmatch(line); m != nil {
		names := strings.Split(m[1], " -> ")
		path := "services"
		if len(names) > 1 {
			path = "services." + names[0] + ".depends_on." + names[1]
		}
		add(path, "remove one of these depends_on entries; services that need each other should retry their connections instead", "dependency cycle: %s", strings.Join(names, " → "))
		return
	}
	if m := undefinedDepRe.FindStringSubmatch(line); m != nil {
		add("services."+m[1]+".depends_on."+m[2], joinHints(didYouMean(m[2], serviceNames(idx)), "depend on a service declared under services:"), "depends on unknown service %q", m[2])
		return
	}
	if m := undefinedRefRe.FindStringSubmatch(line); m != nil {
		kind := m[2]
		section := map[string]string{"volume": "volumes", "secret": "secrets", "config": "configs", "network": "networks", "build secret": "secrets"}[kind]
		add("services."+m[1]+"."+section, fmt.Sprintf("declare %q under the top-level %s:", m[3], section), "unknown %s %q", kind, m[3])
		return
	}
	if m := noImageRe.FindStringSubmatch(line); m != nil {
		add("services."+m[1], "add image: (e.g. postgres:16) or build: (a directory with a Dockerfile)", "service %q has neither an image nor a build", m[1])
		return
	}
	if m := mountedTwiceRe.FindStringSubmatch(line); m != nil {
		add(m[1], "mount each container path once", "%s is mounted twice (%s and %s)", m[2], m[2], m[3])
		return
	}
	if m := servicePrefixRe.FindStringSubmatch(line); m != nil {
		add(m[1], "", "%s", m[2])
		return
	}
	line = strings.ReplaceAll(line, dir+string(filepath.Separator), "")
	ds.add(Position{File: files[0]}, "", "", "%s", line)
}

// schemaError reports a Compose schema violation at the key it names.
func schemaError(path, msg string, idx *posIndex, ds *diagnostics) {
	path = strings.TrimPrefix(path, "(root)")
	if m := additionalRe.FindStringSubmatch(msg); m != nil {
		for _, q := range quotedRe.FindAllStringSubmatch(m[1], -1) {
			unknownComposeKey(joinPath(path, q[1]), idx, ds)
		}
		return
	}
	if msg == "false schema" {
		// The schema forbids this key outright: it is unknown here.
		unknownComposeKey(path, idx, ds)
		return
	}
	msg = strings.NewReplacer("must be a array", "must be a list", "must be a object", "must be a mapping").Replace(msg)
	hint := ""
	switch {
	case strings.HasSuffix(msg, "must be a list"):
		hint = "write a YAML list, one item per line starting with -"
	case strings.HasSuffix(msg, "must be a mapping"):
		hint = "write key: value pairs, indented under this key"
	}
	ds.add(idx.lookup(path), path, hint, "%s", msg)
}

// unknownComposeKey reports a key the Compose schema does not allow, with
// the closest allowed key at the top level and in services.
func unknownComposeKey(path string, idx *posIndex, ds *diagnostics) {
	top, service := composeSchemaKeys()
	parent, key := parentPath(path), path[strings.LastIndexByte(path, '.')+1:]
	var allowed []string
	switch {
	case parent == "":
		allowed = top
	case strings.Count(parent, ".") == 1 && strings.HasPrefix(parent, "services."):
		allowed = service
	}
	hint := didYouMean(key, allowed)
	if hint == "" && (key == "quai" || key == "x_quai") {
		hint = fmt.Sprintf("did you mean %q?", Extension)
	}
	hint = cmp.Or(hint, "see the Compose specification for the keys allowed here; extensions start with x-")
	ds.add(idx.lookup(path), path, hint, "unknown key %q", key)
}

// serviceNames lists the services the files declare, for hints.
func serviceNames(idx *posIndex) []string {
	var names []string
	for k := range idx.keys {
		if rest, ok := strings.CutPrefix(k, "services."); ok && !strings.Contains(rest, ".") {
			names = append(names, rest)
		}
	}
	slices.Sort(names)
	return names
}
