package daemon

import (
	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/secrets"
)

// sealedOpener gives the engine the project's sealed values through the
// daemon's keyring: the engine codes against its own small interface, and
// this is the one place that knows both.
type sealedOpener struct{ o *secrets.Opener }

// Open implements engine.SecretOpener.
func (s sealedOpener) Open(projectDir, org, env string, names []string) (map[string]engine.OpenedSecret, error) {
	opened, err := s.o.Open(projectDir, org, env, names)
	if err != nil {
		return nil, err
	}
	out := make(map[string]engine.OpenedSecret, len(opened))
	for name, v := range opened {
		out[name] = engine.OpenedSecret{Value: v.Value, Source: v.Source}
	}
	return out, nil
}

var _ engine.SecretOpener = sealedOpener{}
