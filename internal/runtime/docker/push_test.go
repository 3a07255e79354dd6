package docker

import "testing"

// TestRepositoryOf: a reference and the engine's RepoDigests entries match
// by repository whatever the form they are written in.
func TestRepositoryOf(t *testing.T) {
	for ref, want := range map[string]string{
		"postgres:16":                        "docker.io/library/postgres",
		"postgres@sha256:abc":                "docker.io/library/postgres",
		"docker.io/library/postgres":         "docker.io/library/postgres",
		"bitnami/redis:7":                    "docker.io/bitnami/redis",
		"127.0.0.1:5000/team/web:v1":         "127.0.0.1:5000/team/web",
		"127.0.0.1:5000/team/web@sha256:abc": "127.0.0.1:5000/team/web",
		"localhost:5000/web":                 "localhost:5000/web",
		"ghcr.io/org/app:1.2":                "ghcr.io/org/app",
	} {
		if got := repositoryOf(ref); got != want {
			t.Errorf("repositoryOf(%q) = %q, want %q", ref, got, want)
		}
	}
}
