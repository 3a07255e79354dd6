//go:build tools

// Package traefik pins the Traefik release the test cluster harness runs as
// its ingress controller, so that go.sum covers every package it needs and
// tools/kube/build.sh compiles it without a tidy step. It is a module of its
// own because Traefik's Kubernetes libraries need not match tools/kube's.
package traefik

import _ "github.com/traefik/traefik/v3/cmd/traefik"
