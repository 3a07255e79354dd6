package catalog

import (
	"bytes"
	"cmp"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"
)

// Errors of the catalog, wrapped with %w.
var (
	// ErrNotFound: no catalog holds an entry (or no catalog has a name).
	ErrNotFound = errors.New("not found in the catalog")
	// ErrInvalid: an entry's header, files or a setting's value are wrong.
	ErrInvalid = errors.New("invalid catalog entry")
	// ErrAmbiguous: entries of the same name in several catalogs.
	ErrAmbiguous = errors.New("ambiguous catalog entry")
)

// HeaderFile is an entry's metadata header, beside its compose.yaml.
const HeaderFile = "catalog.yaml"

// BuiltinName is the name of the catalog embedded in the binary.
const BuiltinName = "builtin"

//go:embed all:entries
var builtinFS embed.FS

//go:embed schema.json
var schemaJSON []byte

// Meta is an entry's header, catalog.yaml.
type Meta struct {
	Name        string `json:"name"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description"`
	// Version is the entry's own semantic version; its major number moves
	// when an upgrade needs the user's attention (Upgrades).
	Version string `json:"version"`
	// AppVersion is the version of the application the entry installs.
	AppVersion string    `json:"app_version,omitempty"`
	Upstream   string    `json:"upstream"`
	Licence    string    `json:"licence"`
	Tags       []string  `json:"tags,omitempty"`
	Settings   []Setting `json:"settings,omitempty"`
	Upgrades   []Upgrade `json:"upgrades,omitempty"`
}

// Setting is a value a user may set at install (--set NAME=VALUE); it
// reaches the stack as the interpolation variable NAME, through the
// installed folder's .env.
type Setting struct {
	Name        string   `json:"name"`
	Type        string   `json:"type,omitempty"`
	Default     any      `json:"default,omitempty"`
	Description string   `json:"description"`
	Pattern     string   `json:"pattern,omitempty"`
	Enum        []string `json:"enum,omitempty"`
	Required    bool     `json:"required,omitempty"`
}

// Upgrade tells what to do when an installed instance moves to the major
// version To of the entry.
type Upgrade struct {
	To    int    `json:"to"`
	Notes string `json:"notes"`
}

// Entry is one installable project of a catalog.
type Entry struct {
	Meta
	// Catalog is the name of the catalog that holds the entry.
	Catalog string `json:"catalog"`
	// Files are the entry's files, rooted at the entry's folder.
	Files fs.FS `json:"-"`
	// Dir is the entry's folder on disk; "" for a built-in entry.
	Dir string `json:"dir,omitempty"`
}

// Ref is the entry's qualified name, CATALOG/NAME.
func (e *Entry) Ref() string { return e.Catalog + "/" + e.Name }

// Major is the major number of the entry's version.
func (e *Entry) Major() int { return major(e.Version) }

func major(v string) int {
	n, _ := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	return n
}

// Default is the setting's default as the string .env holds; "" without one.
func (s Setting) defaultString() string {
	switch v := s.Default.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

// Check validates value against the setting's type, pattern and choices.
func (s Setting) Check(value string) error {
	switch cmp.Or(s.Type, "string") {
	case "integer":
		if _, err := strconv.ParseInt(value, 10, 64); err != nil {
			return fmt.Errorf("setting %s: %q is not an integer: %w", s.Name, value, ErrInvalid)
		}
	case "boolean":
		if value != "true" && value != "false" {
			return fmt.Errorf("setting %s: %q is not true or false: %w", s.Name, value, ErrInvalid)
		}
	}
	if len(s.Enum) > 0 && !slices.Contains(s.Enum, value) {
		return fmt.Errorf("setting %s: %q is not one of %s: %w", s.Name, value, strings.Join(s.Enum, ", "), ErrInvalid)
	}
	if s.Pattern != "" {
		re, err := regexp.Compile("^(?:" + s.Pattern + ")$")
		if err != nil {
			return fmt.Errorf("setting %s: pattern %q: %w: %w", s.Name, s.Pattern, err, ErrInvalid)
		}
		if !re.MatchString(value) {
			return fmt.Errorf("setting %s: %q does not match %s: %w", s.Name, value, s.Pattern, ErrInvalid)
		}
	}
	if strings.ContainsAny(value, "'\n\r") {
		return fmt.Errorf("setting %s: a value cannot hold a single quote or a line break: %w", s.Name, ErrInvalid)
	}
	return nil
}

// Setting returns the entry's setting called name.
func (e *Entry) Setting(name string) (Setting, bool) {
	i := slices.IndexFunc(e.Settings, func(s Setting) bool { return s.Name == name })
	if i < 0 {
		return Setting{}, false
	}
	return e.Settings[i], true
}

// UpgradeNotes are the notes of the majors after from up to the entry's.
func (e *Entry) UpgradeNotes(from string) []Upgrade {
	var out []Upgrade
	for _, u := range e.Upgrades {
		if u.To > major(from) && u.To <= e.Major() {
			out = append(out, u)
		}
	}
	return out
}

// schema is compiled at its first use, not at start: every quai process
// links the catalog, few validate an entry.
var schema = sync.OnceValue(func() *jsonschema.Schema {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		panic(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("catalog-entry.json", doc); err != nil {
		panic(err)
	}
	return c.MustCompile("catalog-entry.json")
})

// Schema is the JSON schema of catalog.yaml.
func Schema() []byte { return slices.Clone(schemaJSON) }

// ParseMeta validates a catalog.yaml against the schema and decodes it.
func ParseMeta(data []byte) (Meta, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return Meta{}, fmt.Errorf("%s is not YAML: %w: %w", HeaderFile, err, ErrInvalid)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return Meta{}, fmt.Errorf("%s: %w: %w", HeaderFile, err, ErrInvalid)
	}
	if err := schema().Validate(doc); err != nil {
		return Meta{}, fmt.Errorf("%s does not match the catalog schema (quai catalog schema prints it): %w: %w", HeaderFile, err, ErrInvalid)
	}
	var m Meta
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Meta{}, fmt.Errorf("%s: %w: %w", HeaderFile, err, ErrInvalid)
	}
	seen := map[string]bool{}
	for _, s := range m.Settings {
		if seen[s.Name] {
			return Meta{}, fmt.Errorf("%s: setting %s is declared twice: %w", HeaderFile, s.Name, ErrInvalid)
		}
		seen[s.Name] = true
		if s.Default != nil {
			if err := s.Check(s.defaultString()); err != nil {
				return Meta{}, fmt.Errorf("%s: the default of %w", HeaderFile, err)
			}
		} else if s.Pattern != "" {
			if _, err := regexp.Compile(s.Pattern); err != nil {
				return Meta{}, fmt.Errorf("%s: setting %s: pattern: %w: %w", HeaderFile, s.Name, err, ErrInvalid)
			}
		}
		if s.Name == HostVariable {
			return Meta{}, fmt.Errorf("%s: setting %s is reserved for --host: %w", HeaderFile, s.Name, ErrInvalid)
		}
	}
	return m, nil
}

// readEntry reads the entry in the folder dir of fsys.
func readEntry(fsys fs.FS, dir, catalog string) (*Entry, error) {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		return nil, err
	}
	data, err := fs.ReadFile(sub, HeaderFile)
	if err != nil {
		return nil, fmt.Errorf("entry %s: %w", dir, err)
	}
	m, err := ParseMeta(data)
	if err != nil {
		return nil, fmt.Errorf("entry %s: %w", dir, err)
	}
	if base := path.Base(dir); dir != "." && base != m.Name {
		return nil, fmt.Errorf("entry %s: its header names it %q: name the folder after the entry: %w", dir, m.Name, ErrInvalid)
	}
	if _, err := fs.Stat(sub, "compose.yaml"); err != nil {
		return nil, fmt.Errorf("entry %s: an entry is a quai project: it needs compose.yaml beside %s: %w", dir, HeaderFile, ErrInvalid)
	}
	for _, reserved := range []string{OverrideFile, EnvFile, ManifestFile} {
		if _, err := fs.Stat(sub, reserved); err == nil {
			return nil, fmt.Errorf("entry %s: %s is written at install (settings, --host); leave it out of the entry: %w", dir, reserved, ErrInvalid)
		}
	}
	return &Entry{Meta: m, Catalog: catalog, Files: sub}, nil
}

// ReadEntries reads and validates every entry of a catalog folder: each
// subfolder holding catalog.yaml, or the folder itself when it holds one.
func ReadEntries(fsys fs.FS, catalog string) ([]*Entry, error) {
	if _, err := fs.Stat(fsys, HeaderFile); err == nil {
		e, err := readEntry(fsys, ".", catalog)
		if err != nil {
			return nil, err
		}
		return []*Entry{e}, nil
	}
	dirs, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var out []*Entry
	var errs []error
	for _, d := range dirs {
		if !d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			continue
		}
		if _, err := fs.Stat(fsys, path.Join(d.Name(), HeaderFile)); err != nil {
			continue
		}
		e, err := readEntry(fsys, d.Name(), catalog)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, e)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("catalog %s holds no entry (a folder with %s and compose.yaml): %w", catalog, HeaderFile, ErrInvalid)
	}
	return out, nil
}

// Builtin returns the entries embedded in the binary.
func Builtin() ([]*Entry, error) {
	sub, err := fs.Sub(builtinFS, "entries")
	if err != nil {
		return nil, err
	}
	return ReadEntries(sub, BuiltinName)
}
