package kubetest

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/quai-dev/quai/internal/runtime/docker/dockertest"
)

// File is a file of an image layer.
type File struct {
	// Path is absolute inside the image.
	Path string
	Data []byte
	Mode int64
}

// layerTar is the tar stream of files, with fixed times so equal inputs
// give equal digests.
func layerTar(files []File) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		rel := f.Path[1:]
		for d := filepath.Dir(rel); d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: dockertest.FixedTime}); err != nil {
				return nil, err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: f.Mode, Size: int64(len(f.Data)), ModTime: dockertest.FixedTime}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Image builds a FROM scratch image from the layers (tar streams, bottom
// first) with the given configuration (entrypoint, user, environment...).
func Image(cfg v1.Config, layers ...[]byte) (v1.Image, error) {
	var ls []v1.Layer
	for _, l := range layers {
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(l)), nil
		})
		if err != nil {
			return nil, err
		}
		ls = append(ls, layer)
	}
	img, err := mutate.AppendLayers(empty.Image, ls...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", goruntime.GOARCH
	cf.Created = v1.Time{Time: dockertest.FixedTime}
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}

// FilesImage is Image with one layer made of files.
func FilesImage(cfg v1.Config, files ...File) (v1.Image, error) {
	l, err := layerTar(files)
	if err != nil {
		return nil, err
	}
	return Image(cfg, l)
}

// LoadImage imports img into the cluster's containerd as ref (e.g.
// "users-api/api:1", which pods name as it is, with docker.io implied).
func (c *Cluster) LoadImage(ctx context.Context, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("image reference %q: %w", ref, err)
	}
	if err := os.MkdirAll(c.path("images"), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(c.path("images"), "image-*.tar")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(f.Name()) }()
	err = tarball.Write(tag, img, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write image %s: %w", ref, err)
	}
	return c.ctr(ctx, "images", "import", f.Name())
}

// goBuild builds the Go package pkg (relative to dir) as a static linux
// binary and returns its contents.
func goBuild(dir, pkg string) ([]byte, error) {
	out, err := os.MkdirTemp("", "kubetest-build-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(out) }()
	bin := filepath.Join(out, "bin")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", bin, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return os.ReadFile(bin)
}

// sourceDir is this package's directory, where testdata lives.
func sourceDir() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Dir(file)
}

func pauseImage() (v1.Image, error) {
	b, err := goBuild(sourceDir(), "./testdata/pause")
	if err != nil {
		return nil, err
	}
	return FilesImage(v1.Config{Entrypoint: []string{"/pause"}}, File{Path: "/pause", Data: b, Mode: 0o755})
}

// GoImage builds the Go package pkg (a path relative to dir, or an import
// path) into a FROM scratch image running it as /app with args, and loads
// it into the cluster as ref.
func (c *Cluster) GoImage(t testing.TB, ref, dir, pkg string, cfg v1.Config) {
	t.Helper()
	b, err := goBuild(dir, pkg)
	if err != nil {
		t.Fatal(err)
	}
	c.FilesImage(t, ref, cfg, File{Path: "/app", Data: b, Mode: 0o755})
}

// GoBinary builds the Go package pkg (relative to dir) as a static linux
// binary and returns it, for FilesImage.
func GoBinary(t testing.TB, dir, pkg string) []byte {
	t.Helper()
	b, err := goBuild(dir, pkg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FilesImage loads a FROM scratch image made of files into the cluster as ref.
func (c *Cluster) FilesImage(t testing.TB, ref string, cfg v1.Config, files ...File) {
	t.Helper()
	if len(cfg.Entrypoint) == 0 && len(cfg.Cmd) == 0 {
		cfg.Entrypoint = []string{"/app"}
	}
	img, err := FilesImage(cfg, files...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.LoadImage(ctx, ref, img); err != nil {
		t.Fatal(err)
	}
}

// PostgresImage loads a PostgreSQL 15 image made from the host's Debian
// packages (the file system dockertest builds for Docker) as ref. As the
// official image does, it starts as root to give a fresh volume to the
// postgres user (uid 999), then initialises the data directory from
// POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB and runs the server.
func (c *Cluster) PostgresImage(t testing.TB, ref string) {
	t.Helper()
	rootfs, err := dockertest.PostgresRootfs(t)
	if err != nil {
		t.Fatal(err)
	}
	pgroot, err := goBuild(sourceDir(), "./testdata/pgroot")
	if err != nil {
		t.Fatal(err)
	}
	top, err := layerTar([]File{{Path: "/pgroot", Data: pgroot, Mode: 0o755}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := Image(v1.Config{
		Entrypoint:   []string{"/pgroot"},
		User:         "0",
		Env:          []string{"PGDATA=/var/lib/postgresql/data", "TZ=UTC", "PATH=" + dockertest.PgBin + "/bin:/usr/bin:/bin"},
		ExposedPorts: map[string]struct{}{"5432/tcp": {}},
	}, rootfs, top)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t0 := time.Now()
	if err := c.LoadImage(ctx, ref, img); err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %s (%d MB file system) in %s", ref, len(rootfs)>>20, time.Since(t0).Round(time.Millisecond))
}

// UsersAPIImages loads what the users-api example (in dir) runs, as its
// stack names it: users-api/api:V and users-api/web:V for each version,
// its static binaries in otherwise empty images as its Dockerfiles make
// them, and postgres:15 (see PostgresImage).
func (c *Cluster) UsersAPIImages(t testing.TB, dir string, versions ...string) {
	t.Helper()
	t0 := time.Now()
	bins := map[string][]byte{"api": GoBinary(t, dir, "./api"), "web": GoBinary(t, dir, "./web")}
	for _, v := range versions {
		for name, bin := range bins {
			c.FilesImage(t, "users-api/"+name+":"+v, v1.Config{
				Entrypoint: []string{"/" + name}, User: "65532:65532",
				ExposedPorts: map[string]struct{}{"8080/tcp": {}},
			}, File{Path: "/" + name, Data: bin, Mode: 0o755})
		}
	}
	c.PostgresImage(t, "postgres:15")
	t.Logf("users-api images built and loaded in %s", time.Since(t0).Round(time.Millisecond))
}
