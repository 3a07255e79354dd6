package catalog

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/quai-dev/quai/internal/fsutil"
)

// Files the install writes beside the entry's own.
const (
	// EnvFile holds the settings, as the stack's interpolation variables.
	EnvFile = ".env"
	// OverrideFile holds the instance's host (--host), merged over
	// compose.yaml as Compose merges its override file.
	OverrideFile = "compose.override.yaml"
	// HostVariable is not a setting: install records in .env the host the
	// instance answers at (--host, else the entry's default host), which an
	// entry's compose.yaml may use (${QUAI_HOST}) where the application
	// needs its own URL.
	HostVariable = "QUAI_HOST"
)

// InstallOptions says where and how to write an entry's project folder.
type InstallOptions struct {
	// Dir is the folder to write; an existing folder must hold an
	// installed copy of the same entry (an upgrade or a settings change).
	Dir string
	// Set are the user's settings, NAME → value.
	Set map[string]string
	// Host is the instance's public host name; "" keeps the one written
	// before, or the entry's default host.
	Host string
}

// Installed says what Install wrote.
type Installed struct {
	Dir string `json:"dir"`
	// Previous is the entry version the folder held before; "" for a new
	// folder.
	Previous string `json:"previous,omitempty"`
	Version  string `json:"version"`
	// Settings are the values the folder's .env holds now.
	Settings map[string]string `json:"settings"`
	// Notes are the upgrade notes of the majors crossed.
	Notes []Upgrade `json:"upgrade_notes,omitempty"`
	// Kept are the files the user changed since they were installed,
	// left as they are; the entry's version is beside each, as
	// FILE.catalog-new, to merge by hand.
	Kept []string `json:"kept,omitempty"`
}

// ManifestFile records, in an installed folder, the hash of every file as
// the catalog wrote it, so a later install tells the user's changes
// (kept) from files nobody touched (replaced).
const ManifestFile = ".catalog-files"

// Install writes the entry's project folder: its files, the settings in
// .env (values given win over those written before, which win over the
// defaults) and the host in compose.override.yaml. Every file is written
// whole (temp file + rename). Files of an older version of the entry that
// the new one no longer has are left in place.
func (e *Entry) Install(o InstallOptions) (Installed, error) {
	res := Installed{Dir: o.Dir, Version: e.Version}
	old, err := readInstalled(o.Dir, e.Name)
	if err != nil {
		return res, err
	}
	res.Previous = old.version
	if res.Previous != "" && major(res.Previous) > e.Major() {
		return res, fmt.Errorf("%s holds %s %s, newer than the catalog's %s: a downgrade is refused; use quai rollback for the instance: %w",
			o.Dir, e.Name, res.Previous, e.Version, ErrInvalid)
	}
	values, err := e.settings(old.settings, o.Set)
	if err != nil {
		return res, err
	}
	res.Settings = maps.Clone(values)
	if h, ok := old.settings[HostVariable]; ok && o.Host == "" {
		values[HostVariable] = h
	}
	if res.Previous != "" {
		res.Notes = e.UpgradeNotes(res.Previous)
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return res, err
	}
	manifest := map[string]string{}
	err = fs.WalkDir(e.Files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(o.Dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := fs.ReadFile(e.Files, p)
		if err != nil {
			return err
		}
		sum := hashOf(b)
		manifest[p] = sum
		if cur, err := os.ReadFile(target); err == nil && p != HeaderFile {
			was, known := old.manifest[p]
			if cs := hashOf(cur); cs != sum && (!known || cs != was) {
				// Changed by the user since the catalog wrote it.
				res.Kept = append(res.Kept, p)
				manifest[p] = was
				return fsutil.WriteFile(target+".catalog-new", b, 0o644)
			}
		}
		return fsutil.WriteFile(target, b, 0o644)
	})
	if err != nil {
		return res, fmt.Errorf("write %s: %w", o.Dir, err)
	}
	mb, err := json.MarshalIndent(manifest, "", "  ")
	if err != nil {
		return res, err
	}
	if err := fsutil.WriteFile(filepath.Join(o.Dir, ManifestFile), append(mb, '\n'), 0o644); err != nil {
		return res, err
	}
	if err := fsutil.WriteFile(filepath.Join(o.Dir, EnvFile), envFile(e, values), 0o644); err != nil {
		return res, err
	}
	if o.Host != "" {
		if err := fsutil.WriteFile(filepath.Join(o.Dir, OverrideFile), overrideFile(o.Host), 0o644); err != nil {
			return res, err
		}
	}
	return res, nil
}

var hostRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)

// CheckHost validates --host.
func CheckHost(h string) error {
	if len(h) > 253 || !hostRe.MatchString(h) {
		return fmt.Errorf("--host %q: give a lower-case DNS name, e.g. blog.example.com: %w", h, ErrInvalid)
	}
	return nil
}

func overrideFile(host string) []byte {
	return fmt.Appendf(nil, "# Written by quai catalog install --host: this instance's public host.\nx-quai:\n  default_host: %q\n", host)
}

// settings merges the values given over those written before over the
// defaults, and checks each.
func (e *Entry) settings(before, given map[string]string) (map[string]string, error) {
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(given)) {
		if k == HostVariable {
			errs = append(errs, fmt.Errorf("%s is set with --host, not --set: %w", k, ErrInvalid))
		} else if _, ok := e.Setting(k); !ok {
			names := make([]string, len(e.Settings))
			for i, s := range e.Settings {
				names[i] = s.Name
			}
			errs = append(errs, fmt.Errorf("%s has no setting %s (its settings: %s; quai catalog show %s): %w", e.Name, k, strings.Join(names, ", "), e.Name, ErrInvalid))
		}
	}
	out := map[string]string{}
	for _, s := range e.Settings {
		v, ok := given[s.Name]
		if !ok {
			v, ok = before[s.Name]
		}
		if !ok && s.Default != nil {
			v, ok = s.defaultString(), true
		}
		if !ok {
			if s.Required {
				errs = append(errs, fmt.Errorf("setting %s is required (%s): pass --set %s=VALUE: %w", s.Name, s.Description, s.Name, ErrInvalid))
			}
			continue
		}
		if err := s.Check(v); err != nil {
			errs = append(errs, err)
			continue
		}
		out[s.Name] = v
	}
	return out, errors.Join(errs...)
}

var bareValue = regexp.MustCompile(`^[A-Za-z0-9_./:@,+-]*$`)

// envFile renders the settings as a Compose .env file.
func envFile(e *Entry, values map[string]string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Settings of %s %s (quai catalog show %s); change one and run quai up here.\n", e.Name, e.Version, e.Name)
	for _, s := range e.Settings {
		v, ok := values[s.Name]
		if !ok {
			continue
		}
		writeEnvLine(&b, s.Name, v)
	}
	if h, ok := values[HostVariable]; ok {
		writeEnvLine(&b, HostVariable, h)
	}
	return b.Bytes()
}

func writeEnvLine(b *bytes.Buffer, k, v string) {
	if !bareValue.MatchString(v) {
		v = "'" + v + "'"
	}
	fmt.Fprintf(b, "%s=%s\n", k, v)
}

// RecordHost writes host as QUAI_HOST in the installed folder's .env,
// keeping the settings; it reports whether the value changed.
func (e *Entry) RecordHost(dir, host string) (bool, error) {
	values, err := readEnv(filepath.Join(dir, EnvFile))
	if err != nil {
		return false, err
	}
	if values[HostVariable] == host {
		return false, nil
	}
	values[HostVariable] = host
	return true, fsutil.WriteFile(filepath.Join(dir, EnvFile), envFile(e, values), 0o644)
}

type installedState struct {
	version  string
	settings map[string]string
	manifest map[string]string
}

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// readInstalled reads what an earlier install left in dir: the entry's
// version and the settings. A folder that does not exist, or is empty,
// is a new install; one holding something else is refused.
func readInstalled(dir, name string) (installedState, error) {
	var st installedState
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || err == nil && len(ents) == 0 {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	hdr, err := os.ReadFile(filepath.Join(dir, HeaderFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, fmt.Errorf("%s is not empty and holds no installed catalog entry (%s): pick another folder with --dir", dir, HeaderFile)
	}
	if err != nil {
		return st, err
	}
	m, err := ParseMeta(hdr)
	if err != nil {
		return st, fmt.Errorf("%s: %w", dir, err)
	}
	if m.Name != name {
		return st, fmt.Errorf("%s holds the catalog entry %s, not %s: pick another folder with --dir", dir, m.Name, name)
	}
	st.version = m.Version
	if b, err := os.ReadFile(filepath.Join(dir, ManifestFile)); err == nil {
		if err := json.Unmarshal(b, &st.manifest); err != nil {
			return st, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestFile), err)
		}
	}
	st.settings, err = readEnv(filepath.Join(dir, EnvFile))
	return st, err
}

// readEnv reads the KEY=VALUE lines envFile writes.
func readEnv(p string) (map[string]string, error) {
	out := map[string]string{}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if len(v) >= 2 && (v[0] == '\'' && v[len(v)-1] == '\'' || v[0] == '"' && v[len(v)-1] == '"') {
			v = v[1 : len(v)-1]
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, sc.Err()
}

// DefaultDir is the folder an install writes when none is given.
func DefaultDir(name, org, env string) string { return name + "-" + org + "-" + env }

// DefaultEnviron is the interpolation environment of the entry with every
// setting at its default (a required one without default set to
// "example"), for validating the entry's stack as it would install.
func (e *Entry) DefaultEnviron() map[string]string {
	out := map[string]string{}
	for _, s := range e.Settings {
		switch {
		case s.Default != nil:
			out[s.Name] = s.defaultString()
		case len(s.Enum) > 0:
			out[s.Name] = s.Enum[0]
		default:
			out[s.Name] = "example"
		}
	}
	return out
}
