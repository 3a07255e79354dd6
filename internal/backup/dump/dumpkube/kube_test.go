// Package dumpkube_test runs backups against PostgreSQL on the Kubernetes
// test cluster, in a test binary of its own since the cluster starts once
// per binary (kubetest.Main) and holds the machine's cluster lock.
package dumpkube_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/backup/dump/dumptest"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/kube"
	"github.com/quai-dev/quai/internal/runtime/kube/kubetest"
	"github.com/quai-dev/quai/internal/stack"
)

var shared kubetest.Shared

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m, &shared)) }

const pgImage = "quai-test/dump-postgres:15"

// TestKubePostgres dumps, changes and restores PostgreSQL running in a pod,
// through exec in the pod; then scales it to zero and checks that a dump
// fails loudly.
func TestKubePostgres(t *testing.T) {
	c := shared.Require(t)
	c.PostgresImage(t, pgImage)
	r, err := kube.New(kube.Options{Config: c.Config, RolloutTimeout: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	id := stack.Identity{Org: stack.DefaultOrg, Project: "dumppg", Env: "test"}
	svc := &stack.Service{Name: "db", Image: pgImage, Replicas: 1, Expose: []int{5432}, Hash: "v1",
		Environment: map[string]string{"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "s3cret-pw", "POSTGRES_DB": "appdb"},
		Mounts:      []stack.Mount{{Type: stack.MountVolume, Source: "pgdata", Target: "/var/lib/postgresql/data"}}}
	model := &stack.Model{Identity: id, Services: []*stack.Service{svc}, Volumes: []stack.Volume{{Name: "pgdata"}}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := r.Delete(ctx, id, true); err != nil {
			t.Errorf("purge: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := r.Apply(ctx, model, runtime.ApplyOptions{Release: 1, Emit: func(msg string) { t.Logf("apply: %s", msg) }}); err != nil {
		t.Fatal(err)
	}
	hs, err := r.List(ctx, id)
	if err != nil || len(hs) != 1 {
		t.Fatalf("replicas: %v, %v", hs, err)
	}
	ex, fs := dumptest.Beside(t, r, hs[0])
	deadline := time.Now().Add(2 * time.Minute)
	for {
		// Two buffers: the exec stream copies stdout and stderr from two
		// goroutines.
		var out, errOut bytes.Buffer
		code, err := ex(ctx, []string{"psql", "-X", "-U", "app", "-d", "appdb", "-c", "SELECT 1"}, nil, &out, &errOut)
		if err == nil && code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL is not ready in the pod: %d %v %s%s", code, err, out.String(), errOut.String())
		}
		time.Sleep(300 * time.Millisecond)
	}
	dumptest.RoundTrip(t, dumptest.Postgres, svc, ex, nil)

	// The image has no tar: reading its files says what it needs.
	if err := fs.ReadTar(ctx, "/var/lib/postgresql/data", &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "needs tar") {
		t.Errorf("reading files of a pod without tar: %v, want an error saying the image needs tar", err)
	}

	svc.Replicas, svc.Hash = 0, "v2"
	if err := r.Apply(ctx, model, runtime.ApplyOptions{Release: 2, Emit: func(msg string) { t.Logf("apply: %s", msg) }}); err != nil {
		t.Fatal(err)
	}
	dumptest.DumpFailsWhenDown(t, stack.BackupPostgres, svc, ex, "s3cret-pw")
}
