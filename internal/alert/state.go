package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/quai-dev/quai/internal/fsutil"
)

// Sealer seals channel URLs and secrets at rest (the daemon's master key,
// secrets.Key).
type Sealer interface {
	Seal(plain, ad []byte) []byte
	Open(sealed, ad []byte) ([]byte, error)
}

// stateVersion is the layout version of the state file.
const stateVersion = 1

// stateFile is the alert state on disk (DATA_DIR/alerts.json, 0600): the
// channels with their URL and secret sealed, the active and resolved
// alerts, and the silences.
type stateFile struct {
	Version  int            `json:"version"`
	Channels []savedChannel `json:"channels"`
	snapshot
}

type savedChannel struct {
	Name    string    `json:"name"`
	Org     string    `json:"org,omitempty"`
	Kind    string    `json:"kind"`
	URL     []byte    `json:"url_sealed"`
	Secret  []byte    `json:"secret_sealed,omitempty"`
	Created time.Time `json:"created"`
}

func channelAD(name, field string) []byte {
	return []byte("quai alert channel\x00" + name + "\x00" + field)
}

func (e *Evaluator) load() error {
	b, err := os.ReadFile(e.opts.StatePath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("alert state: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("alert state %s: %w", e.opts.StatePath, err)
	}
	if st.Version > stateVersion {
		return fmt.Errorf("alert state %s has version %d, newer than this quai's %d: upgrade quai", e.opts.StatePath, st.Version, stateVersion)
	}
	for _, c := range st.Channels {
		u, err := e.opts.Sealer.Open(c.URL, channelAD(c.Name, "url"))
		if err != nil {
			return fmt.Errorf("alert channel %s in %s: %w (is this the master key it was sealed with?)", c.Name, e.opts.StatePath, err)
		}
		ch := Channel{Name: c.Name, Org: c.Org, Kind: c.Kind, URL: string(u), Created: c.Created}
		if c.Secret != nil {
			s, err := e.opts.Sealer.Open(c.Secret, channelAD(c.Name, "secret"))
			if err != nil {
				return fmt.Errorf("alert channel %s in %s: %w", c.Name, e.opts.StatePath, err)
			}
			ch.Secret = string(s)
		}
		e.channels[c.Name] = &channelState{Channel: ch}
	}
	e.m.restore(st.snapshot)
	return nil
}

// save writes the state file atomically.
func (e *Evaluator) save() {
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	st := stateFile{Version: stateVersion, snapshot: e.m.snapshot()}
	e.mu.Lock()
	for _, name := range sortedKeys(e.channels) {
		c := e.channels[name].Channel
		sc := savedChannel{Name: c.Name, Org: c.Org, Kind: c.Kind, Created: c.Created,
			URL: e.opts.Sealer.Seal([]byte(c.URL), channelAD(c.Name, "url"))}
		if c.Secret != "" {
			sc.Secret = e.opts.Sealer.Seal([]byte(c.Secret), channelAD(c.Name, "secret"))
		}
		st.Channels = append(st.Channels, sc)
	}
	e.mu.Unlock()
	b, err := json.MarshalIndent(st, "", "  ")
	if err == nil {
		err = fsutil.WriteFile(e.opts.StatePath, b, 0o600)
	}
	if err != nil {
		e.log.Error("cannot save the alert state", "path", e.opts.StatePath, "err", err)
	}
}
