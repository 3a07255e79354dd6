package docker

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// TestBuildFromStack starts a service that has `build:`: the context is
// sent without what .dockerignore excludes, progress is reported, the image
// is labelled and tagged by content, and an unchanged context is not built
// again.
func TestBuildFromStack(t *testing.T) {
	var mu sync.Mutex
	var progress []string
	r := newRuntime(t, Options{Progress: func(service, msg string) {
		mu.Lock()
		defer mu.Unlock()
		progress = append(progress, service+": "+msg)
	}})
	proj := t.TempDir()
	src := filepath.Join(proj, "web")
	goBuildStatic(t, "../runtimetest/testapp", filepath.Join(src, "app"))
	files := map[string]string{
		"Dockerfile":    "FROM scratch\nCOPY . /\nENTRYPOINT [\"/app\"]\n",
		".dockerignore": "secret.txt\nDockerfile\n",
		"secret.txt":    "must not be sent",
		"kept.txt":      "sent",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := newFixture(t, r)
	id := stack.Identity{Org: "default", Project: "build", Env: "test"}
	spec := appSpec(id, "", "web", "web-1")
	spec.ProjectDir = proj
	spec.Service.Build = &stack.Build{Context: "web"}
	spec.Service.Environment = map[string]string{"DATA_DIR": "/"}
	h := f.start(spec)
	f.waitHealthy(h)
	t.Cleanup(func() {
		data, _ := DecodeHandleData(h)
		_, _ = r.cli.ImageRemove(context.Background(), data.Image, client.ImageRemoveOptions{Force: true})
	})

	if code, _ := f.exec(h, "/app", "dial", "127.0.0.1:8080"); code != 0 {
		t.Fatalf("the built app does not listen")
	}
	// The test app serves $DATA_DIR/value; use the file system through
	// the image's files instead: kept.txt is in, secret.txt is not.
	ins, err := r.cli.ContainerInspect(context.Background(), h.ID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := ins.Container.Config.Image; !strings.HasPrefix(img, "quai-default-build-test-web:") {
		t.Errorf("image = %q, want the content-tagged build", img)
	}
	if got := fileInContainer(t, r, h.ID, "/kept.txt"); got != "sent" {
		t.Errorf("/kept.txt = %q, want sent", got)
	}
	if got := fileInContainer(t, r, h.ID, "/secret.txt"); got != "" {
		t.Errorf("a file .dockerignore excludes reached the image: %q", got)
	}
	im, err := r.cli.ImageInspect(context.Background(), ins.Container.Image)
	if err != nil {
		t.Fatal(err)
	}
	if im.Config.Labels[LabelManaged] != Name || im.Config.Labels[runtime.LabelService] != "web" {
		t.Errorf("image labels = %v", im.Config.Labels)
	}
	mu.Lock()
	joined := strings.Join(progress, "\n")
	mu.Unlock()
	if !strings.Contains(joined, "web: building quai-default-build-test-web:") || !strings.Contains(joined, "Successfully built") {
		t.Errorf("build progress not reported:\n%s", joined)
	}

	b, err := r.BuildImage(context.Background(), BuildSpec{Context: src, Repository: "quai-default-build-test-web"})
	if err != nil || !b.Cached || b.Ref != ins.Container.Config.Image {
		t.Errorf("rebuild of an unchanged context = %+v, %v; want the cached image", b, err)
	}
}

// fileInContainer reads a file through the engine's archive API; "" when
// it does not exist.
func fileInContainer(t *testing.T, r *Runtime, id, path string) string {
	t.Helper()
	res, err := r.cli.CopyFromContainer(context.Background(), id, client.CopyFromContainerOptions{SourcePath: path})
	if err != nil {
		return ""
	}
	defer func() { _ = res.Content.Close() }()
	var buf bytes.Buffer
	tr := newTarReader(res.Content)
	if _, err := tr.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := buf.ReadFrom(tr); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestPruneRemovesOnlyUnkeptQuaiImages builds two quai images and tags a
// foreign one: Prune removes the quai image no release keeps, and nothing else.
func TestPruneRemovesOnlyUnkeptQuaiImages(t *testing.T) {
	r := newRuntime(t, Options{})
	app := testAppImage(t, r)
	ctx := context.Background()
	build := func(repo, content string) Built {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+app+"\nLABEL content="+content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		b, err := r.BuildImage(ctx, BuildSpec{Context: dir, Repository: repo})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	kept := build("quai-test-prune-kept", "kept")
	gone := build("quai-test-prune-gone", "gone")
	foreign := "quai-test-foreign:latest"
	if _, err := r.cli.ImageTag(ctx, client.ImageTagOptions{Source: app, Target: foreign}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, ref := range []string{kept.Ref, gone.Ref, foreign} {
			_, _ = r.cli.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{})
		}
	})
	// Images of other quai instances on this engine (and the test app,
	// which is managed too) are kept by listing them as kept.
	list, err := r.cli.ImageList(ctx, client.ImageListOptions{Filters: managedFilter()})
	if err != nil {
		t.Fatal(err)
	}
	keep := []string{kept.Ref}
	for _, im := range list.Items {
		if im.ID != gone.ID {
			keep = append(keep, im.ID)
		}
	}
	freed, size, err := r.Prune(ctx, keep)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(freed, []string{gone.Ref}) || size <= 0 {
		t.Errorf("Prune freed %v (%d bytes), want only %s", freed, size, gone.Ref)
	}
	for _, ref := range []string{kept.Ref, foreign, app} {
		if _, err := r.cli.ImageInspect(ctx, ref); err != nil {
			t.Errorf("Prune removed %s: %v", ref, err)
		}
	}
}

// TestOrphansAfterCrash leaves what a crash between create and start
// leaves (a created container, the instance network, secret files) and
// a named volume: CleanOrphans removes all but the volume.
func TestOrphansAfterCrash(t *testing.T) {
	r := newRuntime(t, Options{})
	app := testAppImage(t, r)
	ctx := context.Background()
	id := stack.Identity{Org: "default", Project: "orphans", Env: "test"}
	f := newFixture(t, r)
	f.ids = append(f.ids, id)
	spec := appSpec(id, app, "web", "web-1")
	spec.Service.Mounts = []stack.Mount{{Type: stack.MountVolume, Source: "data", Target: "/data"}}
	spec.Secrets = map[string][]byte{"token": []byte("x")}
	if _, err := r.writeSecrets(spec); err != nil {
		t.Fatal(err)
	}
	cid, netName := createOnly(t, r, spec, app)

	o, err := r.Orphans(ctx, Recorded{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(o.Containers, containerName(id, "web-1")) || !slices.Contains(o.Networks, netName) || len(o.SecretDirs) == 0 {
		t.Fatalf("orphans = %+v, want the created container, the network and the secrets", o)
	}
	done, err := r.CleanOrphans(ctx, Recorded{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(done.Containers, containerName(id, "web-1")) {
		t.Errorf("cleaned = %+v", done)
	}
	if _, err := r.cli.ContainerInspect(ctx, cid, client.ContainerInspectOptions{}); err == nil {
		t.Errorf("the orphan container is still there")
	}
	if _, err := r.cli.NetworkInspect(ctx, netName, client.NetworkInspectOptions{}); err == nil {
		t.Errorf("the orphan network is still there")
	}
	if _, err := os.Stat(r.secretsDir(id, "web-1")); !os.IsNotExist(err) {
		t.Errorf("the orphan secrets are still there: %v", err)
	}
	if vols, err := r.Volumes(ctx, id); err != nil || len(vols) != 1 {
		t.Errorf("volumes = %v, %v; an orphan cleanup must keep volumes", vols, err)
	}
}

// TestExecTTYAndUsage runs a command on a TTY with a resize, and checks
// that Inspect reports memory use and, from the second call, CPU.
func TestExecTTYAndUsage(t *testing.T) {
	r := newRuntime(t, Options{})
	app := testAppImage(t, r)
	f := newFixture(t, r)
	id := stack.Identity{Org: "default", Project: "tty", Env: "test"}
	h := f.start(appSpec(id, app, "web", "web-1"))
	f.waitHealthy(h)
	resize := make(chan runtime.TermSize, 1)
	resize <- runtime.TermSize{Rows: 40, Cols: 120}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, err := r.Exec(ctx, h, runtime.ExecOptions{Cmd: []string{"/app", "echo", "on-a-tty", "4"}, TTY: true, Stdout: &out, Resize: resize})
	if err != nil || code != 4 {
		t.Fatalf("exec on a TTY = %d, %v", code, err)
	}
	// A TTY turns \n into \r\n: the output is raw terminal output.
	if out.String() != "on-a-tty\r\n" {
		t.Errorf("TTY output = %q", out.String())
	}
	// Samples are taken in the background: Inspect reports the latest.
	var st runtime.Status
	for i := 0; i < 100 && (st.MemoryBytes <= 0 || st.CPUPercent <= 0); i++ {
		for range 20 {
			httpGet(t, h, "/")
		}
		if st, err = r.Inspect(ctx, h); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("usage: %.2f%% CPU, %d bytes", st.CPUPercent, st.MemoryBytes)
	if st.MemoryBytes <= 0 {
		t.Errorf("memory = %d, want the container's usage", st.MemoryBytes)
	}
	if st.CPUPercent <= 0 {
		t.Errorf("cpu = %f%%, want the usage of the requests served between two samples", st.CPUPercent)
	}
}

// TestPullFailureIsMissingDependency pulls from a registry that does not
// answer: the error says which image and what to do.
func TestPullFailureIsMissingDependency(t *testing.T) {
	r := newRuntime(t, Options{})
	id := stack.Identity{Org: "default", Project: "pull", Env: "test"}
	newFixture(t, r).ids = append([]stack.Identity(nil), id)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := r.Start(ctx, appSpec(id, "127.0.0.1:9/quai/missing:1", "web", "web-1"))
	if !errors.Is(err, runtime.ErrMissingDependency) {
		t.Fatalf("err = %v, want ErrMissingDependency", err)
	}
	for _, want := range []string{"127.0.0.1:9/quai/missing:1", "docker login", "service web"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestRegistryAuthFromDockerConfig reads credentials as the docker CLI
// stores them in config.json.
func TestRegistryAuthFromDockerConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := `{"auths":{"registry.example.com":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("deploy:pw")) + `"}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &Runtime{opts: Options{DockerConfigDir: dir}}
	enc, err := r.registryAuth("registry.example.com")
	if err != nil {
		t.Fatal(err)
	}
	ac, err := authconfig.Decode(enc)
	if err != nil || ac.Username != "deploy" || ac.Password != "pw" {
		t.Errorf("auth = %+v, %v; want deploy/pw", ac, err)
	}
	if enc, err := r.registryAuth("other.example.com"); err != nil || enc != "" {
		t.Errorf("auth for a registry without credentials = %q, %v; want none", enc, err)
	}
}
