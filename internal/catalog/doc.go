// Package catalog owns quai's application catalog: entries that are
// ordinary quai projects (a compose.yaml with x-quai, overlays as needed)
// plus a metadata header, catalog.yaml, that names the entry, its version,
// upstream and licence, the settings a user may set and the upgrade notes
// of its major versions. The built-in entries are embedded in the binary;
// a team adds its own catalogs (a folder, referenced, or a Git repository,
// cloned into the data directory).
//
// It validates headers against a JSON schema, lists and finds entries, and
// writes the project folder an instance is installed from (settings in its
// .env, the host in compose.override.yaml), so that folder can be
// versioned. Sealing generated secrets and deploying belong to the CLI and
// the daemon: this package must not import the engine, runtimes, store,
// API, client or CLI packages.
package catalog
