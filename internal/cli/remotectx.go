package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/fsutil"
)

// Daemon contexts, as `docker context` has them (not to be confused with
// the project context of context.go): a named daemon the CLI talks to. The
// default one is the local daemon on its unix socket; the others are
// network APIs logged in to with `quai login`, stored with their pinned CA
// and token in the user's config directory, readable by the user only.
// The context in use is --context, else $QUAI_CONTEXT, else the current
// one (`quai context use`); --socket and --data-dir without --context mean
// the local daemon.

// envContext names the daemon context to use.
const envContext = "QUAI_CONTEXT"

// defaultContext is the local daemon's context; it is not stored.
const defaultContext = "default"

// remoteContext is a stored daemon context.
type remoteContext struct {
	// URL is the network API, https://host:port.
	URL string `json:"url"`
	// CAPEM is the pinned CA certificate; Fingerprint its fingerprint.
	// Both empty: the system's roots vouch for the daemon (ACME).
	CAPEM       string `json:"ca_pem,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	// Token is the bearer token; never printed.
	Token string `json:"token"`
	// User is who logged in, when known; Expires when the token ends.
	User    string    `json:"user,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
	Created time.Time `json:"created"`
}

// contextFile is the file of stored contexts.
type contextFile struct {
	Current  string                    `json:"current,omitempty"`
	Contexts map[string]*remoteContext `json:"contexts"`
}

var contextName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// contextsPath is where contexts are stored: os.UserConfigDir()/quai/contexts.json.
func contextsPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the user's config directory for quai's contexts: %w (set XDG_CONFIG_HOME or HOME)", err)
	}
	return filepath.Join(dir, "quai", "contexts.json"), nil
}

// loadContexts reads the stored contexts; none stored is an empty file.
func loadContexts() (*contextFile, string, error) {
	path, err := contextsPath()
	if err != nil {
		return nil, "", err
	}
	cf := &contextFile{Contexts: map[string]*remoteContext{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cf, path, nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read quai's contexts: %w", err)
	}
	if err := json.Unmarshal(b, cf); err != nil {
		return nil, "", fmt.Errorf("read quai's contexts %s: %w (fix or remove the file, then log in again)", path, err)
	}
	if cf.Contexts == nil {
		cf.Contexts = map[string]*remoteContext{}
	}
	return cf, path, nil
}

// save writes the contexts atomically, readable by the user only.
func (cf *contextFile) save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	// A directory created earlier by something else keeps its mode; the
	// file's own mode is what protects the tokens.
	b, err := json.MarshalIndent(cf, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFile(path, append(b, '\n'), 0o600)
}

// names lists the stored contexts, sorted.
func (cf *contextFile) names() []string {
	out := make([]string, 0, len(cf.Contexts))
	for n := range cf.Contexts {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// contextInUse is the name of the daemon context in use and where that
// choice comes from.
func (g *globals) contextInUse(cf *contextFile) (name, from string) {
	switch {
	case g.Context != "":
		return g.Context, "--context"
	case g.Socket != "" || g.DataDir != "":
		return defaultContext, "--socket/--data-dir"
	case os.Getenv(envContext) != "":
		return os.Getenv(envContext), "$" + envContext
	case cf != nil && cf.Current != "":
		return cf.Current, "quai context use"
	}
	return defaultContext, ""
}

// remote returns the remote context in use, nil for the local daemon.
func (g *globals) remote() (*remoteContext, string, error) {
	if g.Context == "" && (g.Socket != "" || g.DataDir != "") {
		return nil, defaultContext, nil
	}
	if g.Context == "" && os.Getenv(envContext) == "" {
		// No file read for most local uses: only when a current context
		// may be set.
		path, err := contextsPath()
		if err != nil {
			return nil, defaultContext, nil //nolint:nilerr // no config directory: nothing stored, the local daemon
		}
		if _, err := os.Stat(path); err != nil {
			return nil, defaultContext, nil //nolint:nilerr // nothing stored
		}
	}
	cf, _, err := loadContexts()
	if err != nil {
		return nil, "", err
	}
	name, from := g.contextInUse(cf)
	if name == defaultContext {
		return nil, name, nil
	}
	rc, ok := cf.Contexts[name]
	if !ok {
		hint := "`quai context ls` lists them"
		if len(cf.Contexts) == 0 {
			hint = "log in first: quai login https://HOST:7443 --name " + name
		}
		return nil, "", fmt.Errorf("no daemon context %q (from %s): %s", name, from, hint)
	}
	if g.Socket != "" && g.Context != "" {
		return nil, "", usageErrorf("--socket and --context %s disagree: use one of them", name)
	}
	return rc, name, nil
}

// remoteClient is a client of a stored context's daemon.
func (rc *remoteContext) client() (*client.Client, error) {
	return client.NewRemote(client.RemoteOptions{URL: rc.URL, CAPEM: []byte(rc.CAPEM), Fingerprint: rc.Fingerprint, Token: rc.Token})
}

// contextForURL derives a context name from a daemon's URL: its host.
func contextForURL(u string) string {
	h := strings.TrimPrefix(u, "https://")
	if i := strings.IndexAny(h, ":/"); i >= 0 && !strings.HasPrefix(h, "[") {
		h = h[:i]
	}
	h = strings.Trim(h, "[]")
	h = strings.NewReplacer(":", "-", "%", "-").Replace(h)
	if !contextName.MatchString(h) {
		return "remote"
	}
	return h
}
