//go:build tools

// Package versitygw pins the release of the S3 server (versitygw, Apache-2.0)
// that the backup repository's tests run on loopback, so that go.sum covers
// every package it needs and build.sh compiles it without a tidy step.
package versitygw

import _ "github.com/versity/versitygw/cmd/versitygw"
