//go:build tools

// Package helm pins the release of the Helm CLI (v4, Apache-2.0) that the
// chart tests run (`helm lint`, `helm template`, `helm pull oci://`), so that
// go.sum covers every package it needs and build.sh compiles it without a
// tidy step. It is a module of its own: Helm v4 needs newer k8s.io libraries
// than quai's main module uses, and must not move them.
package helm

import _ "helm.sh/helm/v4/cmd/helm"
