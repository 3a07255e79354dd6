//go:build tools

// Package sops pins the release of the real sops CLI that the SOPS codec's
// interoperability tests run, so that go.sum covers every package it needs and
// build.sh compiles it without a tidy step.
package sops

import _ "github.com/getsops/sops/v3/cmd/sops"
