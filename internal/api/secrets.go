package api

import (
	"errors"
	"net/http"

	"github.com/quai-dev/quai/internal/auth"
	"github.com/quai-dev/quai/internal/secrets"
	"github.com/quai-dev/quai/internal/secrets/sops"
	"github.com/quai-dev/quai/internal/wire"
)

// Keyring is the daemon's age keys and the sealed-file changes made with
// them; *secrets.Keyring implements it. The API answers 501 without one.
// Values reach it in requests and never leave it: no answer, log line or
// error carries one.
type Keyring interface {
	Keys(org, env string) ([]secrets.KeyInfo, error)
	Change(c secrets.FileChange) (secrets.FileResult, error)
	Export(org, env, passphrase string) ([]byte, []secrets.KeyInfo, error)
	Import(data []byte, passphrase, org, env string) (secrets.ImportResult, error)
	Retire(org, env string, gen int, files map[string][]byte) (secrets.KeyInfo, error)
}

// withKeyring serves a secrets call: it decodes a Req (none for GET),
// checks with allow that the request's principal may make it, hands it to
// do with the keyring and answers with what do returns.
func withKeyring[Req any](s *Server, w http.ResponseWriter, r *http.Request, allow func(Req) bool, do func(Keyring, Req) (any, error)) {
	if s.keys == nil {
		writeError(w, &Error{Status: http.StatusNotImplemented, Code: wire.CodeUnsupported,
			Message: "this daemon holds no secret keys", Hint: "the CLI and the daemon may be different versions; restart the daemon"})
		return
	}
	var req Req
	if r.Method != http.MethodGet {
		if err := decodeBody(w, r, &req); err != nil {
			writeError(w, err)
			return
		}
	}
	if !allow(req) {
		return
	}
	out, err := do(s.keys, req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, out)
}

func (s *Server) handleSecretKeys(w http.ResponseWriter, r *http.Request) {
	org, env := r.URL.Query().Get(wire.SecretKeysOrg), r.URL.Query().Get(wire.SecretKeysEnv)
	allow := func(struct{}) bool { return s.authorizeKeys(w, r, "secrets.keys", org, env) }
	withKeyring(s, w, r, allow, func(kr Keyring, _ struct{}) (any, error) {
		keys, err := kr.Keys(org, env)
		return wireKeys(keys), err
	})
}

func (s *Server) handleSecretsFile(w http.ResponseWriter, r *http.Request) {
	allow := func(req wire.SecretsFileRequest) bool {
		orgs := append(append(append([]string{}, req.SealFor...), req.AddOrgs...), req.RemoveOrgs...)
		if req.Org != "" {
			orgs = append(orgs, req.Org)
		} else if len(req.Sealed) > 0 && !auth.FromContext(r.Context()).HostAdmin() {
			// Which organizations' keys open an existing base file is known
			// only once opened: refuse rather than open it for anyone.
			return requireHost(w, r, "secrets.set", "a base secrets file (secrets/ENV.yaml); use the organization's own file (--org)")
		}
		for _, org := range orgs {
			if !s.authorizeKeys(w, r, "secrets.set", org, req.Env) {
				return false
			}
		}
		return true
	}
	withKeyring(s, w, r, allow, func(kr Keyring, req wire.SecretsFileRequest) (any, error) {
		res, err := kr.Change(secrets.FileChange{
			Org: req.Org, Env: req.Env, Sealed: req.Sealed, SealFor: req.SealFor, Recipients: req.Recipients,
			Set: req.Set, Delete: req.Delete,
			Rotate: req.Rotate, AddOrgs: req.AddOrgs, RemoveOrgs: req.RemoveOrgs, NewKey: req.NewKey,
		})
		if err != nil {
			return nil, err
		}
		out := wire.SecretsFile{File: res.File, Sealed: res.Sealed, Names: res.Names, Created: wireKeys(res.Created)}
		if out.Names == nil {
			out.Names = []string{}
		}
		for _, rc := range res.Recipients {
			wr := wire.SecretRecipient{Recipient: rc.Recipient}
			if rc.Key != nil {
				k := wireKey(*rc.Key)
				wr.Key = &k
			}
			out.Recipients = append(out.Recipients, wr)
		}
		for _, k := range res.Created {
			out.Advice = append(out.Advice, secrets.ExportAdvice(k))
		}
		return out, nil
	})
}

func (s *Server) handleSecretsExport(w http.ResponseWriter, r *http.Request) {
	allow := func(req wire.SecretsExportRequest) bool {
		return s.authorizeKeys(w, r, "secrets.admin", req.Org, req.Env)
	}
	withKeyring(s, w, r, allow, func(kr Keyring, req wire.SecretsExportRequest) (any, error) {
		data, keys, err := kr.Export(req.Org, req.Env, req.Passphrase)
		if err != nil {
			return nil, err
		}
		s.log.Info("exported age keys", "org", req.Org, "env", req.Env, "keys", len(keys), "encrypted", req.Passphrase != "")
		return wire.SecretsExport{Data: data, Keys: wireKeys(keys)}, nil
	})
}

func (s *Server) handleSecretsImport(w http.ResponseWriter, r *http.Request) {
	// A bundle places its keys itself, in any organization.
	allow := func(wire.SecretsImportRequest) bool {
		return requireHost(w, r, "secrets.admin", "a key bundle (it may hold any organization's keys)")
	}
	withKeyring(s, w, r, allow, func(kr Keyring, req wire.SecretsImportRequest) (any, error) {
		res, err := kr.Import(req.Data, req.Passphrase, req.Org, req.Env)
		return wire.SecretsImport{Imported: wireKeys(res.Imported), Present: wireKeys(res.Present)}, err
	})
}

func (s *Server) handleSecretsRetire(w http.ResponseWriter, r *http.Request) {
	allow := func(req wire.SecretsRetireRequest) bool {
		return s.authorizeKeys(w, r, "secrets.admin", req.Org, req.Env)
	}
	withKeyring(s, w, r, allow, func(kr Keyring, req wire.SecretsRetireRequest) (any, error) {
		files := make(map[string][]byte, len(req.Files))
		for _, f := range req.Files {
			files[f.Path] = f.Sealed
		}
		k, err := kr.Retire(req.Org, req.Env, req.Generation, files)
		return wireKey(k), err
	})
}

func wireKey(k secrets.KeyInfo) wire.SecretKey {
	return wire.SecretKey{Org: k.Org, Env: k.Env, Generation: k.Generation, Recipient: k.Recipient, Created: k.Created, Current: k.Current}
}

func wireKeys(ks []secrets.KeyInfo) []wire.SecretKey {
	out := make([]wire.SecretKey, len(ks))
	for i, k := range ks {
		out[i] = wireKey(k)
	}
	return out
}

// secretsError maps the errors of sealed files and keys; ok is false for
// any other error.
func secretsError(err error) (*Error, bool) {
	msg := err.Error()
	switch {
	case errors.Is(err, secrets.ErrKeyInUse):
		return &Error{Status: http.StatusConflict, Code: wire.CodeKeyInUse, Message: msg}, true
	case errors.Is(err, secrets.ErrPassphrase):
		return &Error{Status: http.StatusBadRequest, Code: wire.CodeWrongPassphrase, Message: msg,
			Hint: "give the passphrase the keys were exported with"}, true
	case errors.Is(err, secrets.ErrNoKey), errors.Is(err, secrets.ErrNoSecret):
		return &Error{Status: http.StatusNotFound, Code: wire.CodeNotFound, Message: msg}, true
	case errors.Is(err, secrets.ErrInvalid), errors.Is(err, secrets.ErrNotSealedFor):
		return &Error{Status: http.StatusBadRequest, Code: wire.CodeInvalid, Message: msg}, true
	case errors.Is(err, sops.ErrMAC), errors.Is(err, sops.ErrNotSOPS), errors.Is(err, sops.ErrFormat), errors.Is(err, sops.ErrNoIdentity):
		return &Error{Status: http.StatusBadRequest, Code: wire.CodeInvalid, Message: msg,
			Hint: "restore the file from version control, or remove it and set its values again with `quai secrets set`"}, true
	}
	return nil, false
}

// authorizeKeys authorizes a on an organization's keys for env ("" =
// every environment); an empty org means every organization's: the host's.
func (s *Server) authorizeKeys(w http.ResponseWriter, r *http.Request, a auth.Action, org, env string) bool {
	if org == "" {
		if auth.FromContext(r.Context()).HostAdmin() {
			return true
		}
		return requireHost(w, r, a, "every organization's keys; name one with --org")
	}
	return s.authorizeOrgEnv(w, r, a, org, env)
}
