package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/quai-dev/quai/internal/fsutil"
)

// Kinds of added catalogs.
const (
	KindDir = "dir" // a folder on this host, referenced where it is
	KindGit = "git" // a Git repository, cloned into the data directory
)

// sourcesFile lists the added catalogs, under DATA_DIR/catalogs.
const sourcesFile = "sources.json"

// Source is an added catalog.
type Source struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Location is the folder or the Git URL the user gave.
	Location string `json:"location"`
	// Path is where the catalog's files are on this host.
	Path string `json:"path"`
}

// Catalog is the built-in entries and those of the catalogs added to a
// data directory.
type Catalog struct {
	dataDir string
	sources []Source
}

// Open reads the catalogs added to dataDir ("" for the built-in only).
func Open(dataDir string) (*Catalog, error) {
	c := &Catalog{dataDir: dataDir}
	if dataDir == "" {
		return c, nil
	}
	b, err := os.ReadFile(filepath.Join(Dir(dataDir), sourcesFile))
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &c.sources); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(Dir(dataDir), sourcesFile), err)
	}
	return c, nil
}

// Dir is where a data directory keeps the added catalogs.
func Dir(dataDir string) string { return filepath.Join(dataDir, "catalogs") }

// Sources are the added catalogs, by name.
func (c *Catalog) Sources() []Source { return slices.Clone(c.sources) }

// Entries lists every entry: the built-in ones, then each added catalog's,
// sorted by name within a catalog. An added catalog that no longer reads
// leaves its entries out and is reported in the error, beside the entries
// of the others.
func (c *Catalog) Entries() ([]*Entry, error) {
	out, err := Builtin()
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, s := range c.sources {
		es, err := ReadEntries(os.DirFS(s.Path), s.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("catalog %s (%s): %w; fix it, or remove it with `quai catalog rm %s`", s.Name, s.Location, err, s.Name))
			continue
		}
		for _, e := range es {
			e.Dir = s.Path
			if sub := filepath.Join(s.Path, e.Name); isDir(sub) {
				e.Dir = sub
			}
		}
		out = append(out, es...)
	}
	return out, errors.Join(errs...)
}

// Entry finds an entry by NAME or CATALOG/NAME; a catalog that does not
// read matters only when no entry is found.
func (c *Catalog) Entry(name string) (*Entry, error) {
	all, broken := c.Entries()
	if all == nil {
		return nil, broken
	}
	var hits []*Entry
	for _, e := range all {
		if e.Name == name || e.Ref() == name {
			hits = append(hits, e)
		}
	}
	switch len(hits) {
	case 0:
		return nil, errors.Join(fmt.Errorf("%q: %w; quai catalog ls lists the entries", name, ErrNotFound), broken)
	case 1:
		return hits[0], nil
	}
	refs := make([]string, len(hits))
	for i, e := range hits {
		refs[i] = e.Ref()
	}
	return nil, fmt.Errorf("%q is in several catalogs: %w; name one of %s", name, ErrAmbiguous, strings.Join(refs, ", "))
}

var catalogNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// AddOptions says how to add a catalog.
type AddOptions struct {
	// Location is a folder or a Git URL (https://, ssh://, git@, file://,
	// or a path ending in .git).
	Location string
	// Name names the catalog; "" takes the folder's or repository's name.
	Name string
	// Check validates each entry's project (the stack loads); nil checks
	// the headers only.
	Check func(e *Entry) error
}

// IsGit reports whether loc names a Git repository rather than a folder.
func IsGit(loc string) bool {
	for _, p := range []string{"https://", "http://", "ssh://", "git://", "file://", "git@"} {
		if strings.HasPrefix(loc, p) {
			return true
		}
	}
	return strings.HasSuffix(loc, ".git") && !isDir(loc)
}

// Add registers a catalog in the data directory after validating every
// entry in it: a folder is referenced where it is, a Git repository is
// cloned (with the git CLI) under DATA_DIR/catalogs. It returns the
// catalog's entries.
func (c *Catalog) Add(ctx context.Context, o AddOptions) (Source, []*Entry, error) {
	if c.dataDir == "" {
		return Source{}, nil, errors.New("no data directory to record the catalog in")
	}
	s := Source{Location: o.Location, Kind: KindDir, Name: o.Name}
	git := IsGit(o.Location)
	if git {
		s.Kind = KindGit
	}
	if s.Name == "" {
		s.Name = strings.ToLower(strings.TrimSuffix(filepath.Base(strings.TrimRight(o.Location, "/")), ".git"))
	}
	if !catalogNameRe.MatchString(s.Name) || s.Name == BuiltinName {
		return Source{}, nil, fmt.Errorf("catalog name %q: use lower-case letters, digits, dots, dashes and underscores, and not %q; pass --name: %w", s.Name, BuiltinName, ErrInvalid)
	}
	if slices.ContainsFunc(c.sources, func(x Source) bool { return x.Name == s.Name }) {
		return Source{}, nil, fmt.Errorf("a catalog named %s is already added: remove it first with `quai catalog rm %s`, or pass --name", s.Name, s.Name)
	}
	if err := os.MkdirAll(Dir(c.dataDir), 0o700); err != nil {
		return Source{}, nil, err
	}
	var cleanup func()
	if git {
		dest := filepath.Join(Dir(c.dataDir), "git", s.Name)
		if err := os.RemoveAll(dest); err != nil {
			return Source{}, nil, err
		}
		if err := os.MkdirAll(filepath.Dir(dest), 0o700); err != nil {
			return Source{}, nil, err
		}
		cmd := exec.CommandContext(ctx, "git", "clone", "--quiet", "--depth", "1", "--", o.Location, dest) //nolint:gosec // the user's catalog URL, as an argument after --
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			_ = os.RemoveAll(dest)
			return Source{}, nil, fmt.Errorf("git clone %s: %w: %s", o.Location, err, strings.TrimSpace(string(out)))
		}
		s.Path = dest
		cleanup = func() { _ = os.RemoveAll(dest) }
	} else {
		abs, err := filepath.Abs(o.Location)
		if err != nil {
			return Source{}, nil, err
		}
		if !isDir(abs) {
			return Source{}, nil, fmt.Errorf("%s is no folder (nor a Git URL): %w", o.Location, ErrNotFound)
		}
		s.Path = abs
		cleanup = func() {}
	}
	entries, err := ReadEntries(os.DirFS(s.Path), s.Name)
	if err == nil && o.Check != nil {
		var errs []error
		for _, e := range entries {
			e.Dir = s.Path
			if sub := filepath.Join(s.Path, e.Name); isDir(sub) {
				e.Dir = sub
			}
			if err := o.Check(e); err != nil {
				errs = append(errs, fmt.Errorf("entry %s: %w", e.Name, err))
			}
		}
		err = errors.Join(errs...)
	}
	if err != nil {
		cleanup()
		return Source{}, nil, fmt.Errorf("catalog %s was not added: %w", s.Location, err)
	}
	c.sources = append(c.sources, s)
	if err := c.save(); err != nil {
		cleanup()
		return Source{}, nil, err
	}
	return s, entries, nil
}

// Remove forgets the added catalog name (and deletes its clone).
func (c *Catalog) Remove(name string) (Source, error) {
	i := slices.IndexFunc(c.sources, func(s Source) bool { return s.Name == name })
	if i < 0 {
		return Source{}, fmt.Errorf("catalog %q: %w; quai catalog ls --catalogs lists the added ones", name, ErrNotFound)
	}
	s := c.sources[i]
	c.sources = slices.Delete(c.sources, i, i+1)
	if err := c.save(); err != nil {
		return Source{}, err
	}
	if s.Kind == KindGit {
		if err := os.RemoveAll(s.Path); err != nil {
			return s, fmt.Errorf("catalog %s was removed, but its clone %s stays: %w", name, s.Path, err)
		}
	}
	return s, nil
}

func (c *Catalog) save() error {
	b, err := json.MarshalIndent(c.sources, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFile(filepath.Join(Dir(c.dataDir), sourcesFile), append(b, '\n'), 0o600)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
