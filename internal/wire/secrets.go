package wire

import "time"

// The daemon holds the private age keys, so the `quai secrets` verbs that
// need them send a sealed project file's bytes and get the new bytes back:
// values travel from the client to the daemon only, never back (there is no
// "get"). The client writes the files and .sops.yaml.

// SecretKey is one generation of an (org, env) age key: public facts only.
type SecretKey struct {
	Org        string    `json:"org"`
	Env        string    `json:"env"`
	Generation int       `json:"generation"`
	Recipient  string    `json:"recipient"`
	Created    time.Time `json:"created"`
	// Current is the generation new seals use.
	Current bool `json:"current"`
}

// SecretRecipient is a recipient of a sealed file and, when it is one of the
// daemon's keys, which.
type SecretRecipient struct {
	Recipient string     `json:"recipient"`
	Key       *SecretKey `json:"key,omitempty"`
}

// SecretsFileRequest is the body of POST /api/v1/secrets/file: change one
// sealed project file.
type SecretsFileRequest struct {
	// Org is the org of orgs/<org>/secrets/<env>.yaml; "" means the base
	// file secrets/<env>.yaml.
	Org string `json:"org,omitempty"`
	Env string `json:"env"`
	// Sealed is the file's current content; empty when it does not exist.
	Sealed []byte `json:"sealed,omitempty"`
	// SealFor are the orgs a new base file is sealed for.
	SealFor []string `json:"seal_for,omitempty"`
	// Recipients are more recipients of a new file (its .sops.yaml rule's).
	Recipients []string `json:"recipients,omitempty"`
	// Set adds or replaces values; Delete removes names.
	Set    map[string]string `json:"set,omitempty"`
	Delete []string          `json:"delete,omitempty"`
	// Rotate makes a new data key and seals the file for the current keys
	// of its orgs, plus AddOrgs, minus RemoveOrgs; NewKey first makes a new
	// generation of each of those keys.
	Rotate     bool     `json:"rotate,omitempty"`
	AddOrgs    []string `json:"add_orgs,omitempty"`
	RemoveOrgs []string `json:"remove_orgs,omitempty"`
	NewKey     bool     `json:"new_key,omitempty"`
}

// SecretsFile is the answer to SecretsFileRequest: the new sealed content,
// which the client writes (it is safe to commit).
type SecretsFile struct {
	// File is the project-relative path of the file.
	File       string            `json:"file"`
	Sealed     []byte            `json:"sealed"`
	Recipients []SecretRecipient `json:"recipients"`
	// Names are the file's secret names, in file order.
	Names []string `json:"names"`
	// Created are keys the change created; the user must export them.
	Created []SecretKey `json:"created,omitempty"`
	// Advice says what to do about Created keys.
	Advice []string `json:"advice,omitempty"`
}

// Query parameters of GET /api/v1/secrets/keys.
const (
	SecretKeysOrg = "org"
	SecretKeysEnv = "env"
)

// SecretsExportRequest is the body of POST /api/v1/secrets/keys/export.
type SecretsExportRequest struct {
	// Org and Env choose the keys; "" means every org, every env.
	Org string `json:"org,omitempty"`
	Env string `json:"env,omitempty"`
	// Passphrase encrypts the export (age scrypt, armored); empty exports a
	// plain age identity file.
	Passphrase string `json:"passphrase,omitempty"`
}

// SecretsExport is an exported key bundle.
type SecretsExport struct {
	Data []byte      `json:"data"`
	Keys []SecretKey `json:"keys"`
}

// SecretsImportRequest is the body of POST /api/v1/secrets/keys/import.
type SecretsImportRequest struct {
	Data       []byte `json:"data"`
	Passphrase string `json:"passphrase,omitempty"`
	// Org and Env place keys the bundle does not place itself (an
	// age-keygen identity file).
	Org string `json:"org,omitempty"`
	Env string `json:"env,omitempty"`
}

// SecretsImport says what an import stored.
type SecretsImport struct {
	Imported []SecretKey `json:"imported"`
	// Present are keys of the bundle the daemon held already.
	Present []SecretKey `json:"present"`
}

// SealedFile is a project's sealed file, sent for a check.
type SealedFile struct {
	// Path is project-relative.
	Path   string `json:"path"`
	Sealed []byte `json:"sealed"`
}

// SecretsRetireRequest is the body of POST /api/v1/secrets/keys/retire.
type SecretsRetireRequest struct {
	Org        string `json:"org"`
	Env        string `json:"env"`
	Generation int    `json:"generation"`
	// Files are the project's sealed files: a generation one of them still
	// lists is not retired.
	Files []SealedFile `json:"files"`
}
