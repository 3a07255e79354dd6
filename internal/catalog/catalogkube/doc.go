// Package catalogkube holds the catalog's tests against the Kubernetes test
// cluster (scripts/test.sh runs packages named *kube with the cluster's
// tests): every built-in entry's rendering is accepted by a real apiserver.
package catalogkube
