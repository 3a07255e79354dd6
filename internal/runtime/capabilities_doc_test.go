package runtime_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/docker"
	"github.com/quai-dev/quai/internal/runtime/kube"
	"github.com/quai-dev/quai/internal/runtime/process"
)

// capabilityTable is the table of docs/runtimes.md's "The runtime
// contract" section, computed from the types: which optional interface each
// runtime implements.
func capabilityTable() string {
	ifaces := []struct {
		name string
		typ  reflect.Type
		what string
	}{
		{"ReplicaRunner", reflect.TypeFor[runtime.ReplicaRunner](), "starts and stops single replicas (the replicas strategy: process, Docker)"},
		{"Applier", reflect.TypeFor[runtime.Applier](), "applies a whole instance declaratively (the declarative strategy: Kubernetes)"},
		{"Assessor", reflect.TypeFor[runtime.Assessor](), "says at plan time which settings it changes, ignores or refuses"},
		{"Logger", reflect.TypeFor[runtime.Logger](), "streams a replica's output"},
		{"LogKeeper", reflect.TypeFor[runtime.LogKeeper](), "keeps a removed replica's logs within a size limit"},
		{"InstanceLogger", reflect.TypeFor[runtime.InstanceLogger](), "streams the logs of a whole instance"},
		{"Execer", reflect.TypeFor[runtime.Execer](), "runs a command beside a replica"},
		{"PathCopier", reflect.TypeFor[runtime.PathCopier](), "copies files out of and into a service (backups of files)"},
		{"VolumeManager", reflect.TypeFor[runtime.VolumeManager](), "lists and removes an instance's volumes"},
		{"VolumeSizer", reflect.TypeFor[runtime.VolumeSizer](), "measures a volume's size"},
		{"ImageManager", reflect.TypeFor[runtime.ImageManager](), "builds, pins and prunes images"},
		{"ImagePusher", reflect.TypeFor[runtime.ImagePusher](), "pushes images to a registry (promotion across runtimes)"},
		{"ReplicaWatcher", reflect.TypeFor[runtime.ReplicaWatcher](), "reports replica exits as they happen (alerts)"},
		{"Restarter", reflect.TypeFor[runtime.Restarter](), "restarts a service in place"},
	}
	rts := []struct {
		name string
		typ  reflect.Type
	}{
		{"process", reflect.TypeFor[*process.Runtime]()},
		{"docker", reflect.TypeFor[*docker.Runtime]()},
		{"kubernetes", reflect.TypeFor[*kube.Runtime]()},
	}
	var b strings.Builder
	b.WriteString("| capability | what it does | process | docker | kubernetes |\n| --- | --- | --- | --- | --- |\n")
	for _, in := range ifaces {
		b.WriteString("| `" + in.name + "` | " + in.what)
		for _, rt := range rts {
			mark := "—"
			if rt.typ.Implements(in.typ) {
				mark = "✔"
			}
			b.WriteString(" | " + mark)
		}
		b.WriteString(" |\n")
	}
	return b.String()
}

// TestCapabilityTableInDocs: docs/runtimes.md shows which runtime
// implements which optional capability, and says so truthfully: the table
// is computed from the types here (run with -update to rewrite it).
func TestCapabilityTableInDocs(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "runtimes.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- capabilities:begin -->\n", "<!-- capabilities:end -->"
	doc := string(b)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no %q … %q markers around the capability table", path, strings.TrimSpace(begin), end)
	}
	want := capabilityTable()
	if got := doc[i+len(begin) : j]; got != want {
		if os.Getenv("QUAI_UPDATE_DOCS") == "1" {
			if err := os.WriteFile(path, []byte(doc[:i+len(begin)]+want+doc[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("the capability table in %s is out of date; rewrite it with QUAI_UPDATE_DOCS=1 go test -run TestCapabilityTableInDocs ./internal/runtime/\nwant:\n%s", path, want)
	}
}
