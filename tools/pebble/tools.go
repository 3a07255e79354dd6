//go:build tools

// Package pebble pins the release of Pebble (Let's Encrypt's small ACME test
// server, MPL-2.0) and its challenge test server that the proxy's ACME tests
// run on loopback, so that go.sum covers every package they need and build.sh
// compiles them without a tidy step.
package pebble

import (
	_ "github.com/letsencrypt/pebble/v2/cmd/pebble"
	_ "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv"
)
