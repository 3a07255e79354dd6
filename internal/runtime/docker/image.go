package docker

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/cli/cli/config"
	"github.com/moby/go-archive"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/quai-dev/quai/internal/fsutil"
	quaireg "github.com/quai-dev/quai/internal/registry"
	"github.com/quai-dev/quai/internal/runtime"
)

// imageInfo is the image a replica starts from.
type imageInfo struct {
	ref     string
	id      string
	digests []string
}

// ensureImage returns the service's image, building or pulling it when it
// is not on the engine.
func (r *Runtime) ensureImage(ctx context.Context, spec runtime.ReplicaSpec) (imageInfo, error) {
	svc := spec.Service
	ref := svc.Image
	if svc.Build != nil {
		ctxDir := svc.Build.Context
		if !filepath.IsAbs(ctxDir) {
			ctxDir = filepath.Join(spec.ProjectDir, ctxDir)
		}
		labels := r.instanceLabels(spec.Instance)
		labels[runtime.LabelService] = svc.Name
		b, err := r.BuildImage(ctx, BuildSpec{
			Service: svc.Name, Context: ctxDir, Dockerfile: svc.Build.Dockerfile, Args: svc.Build.Args,
			Target: svc.Build.Target, Repository: "quai-" + spec.Instance.Slug() + "-" + svc.Name, Labels: labels,
		})
		if err != nil {
			return imageInfo{}, err
		}
		ref = b.Ref
		if svc.Image != "" {
			if _, err := r.cli.ImageTag(ctx, client.ImageTagOptions{Source: b.ID, Target: svc.Image}); err != nil {
				return imageInfo{}, r.wrap("tag the built image as "+svc.Image, err)
			}
		}
	}
	if ref == "" {
		return imageInfo{}, errors.New("the service has neither image nor build")
	}
	ins, err := r.cli.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) && runtime.IsImageID(ref) {
		return imageInfo{}, r.missingPinned(ref)
	}
	if cerrdefs.IsNotFound(err) {
		if err := r.pull(ctx, svc.Name, ref); err != nil {
			return imageInfo{}, err
		}
		ins, err = r.cli.ImageInspect(ctx, ref)
	}
	if err != nil {
		return imageInfo{}, r.wrap("inspect image "+ref, err)
	}
	return imageInfo{ref: ref, id: ins.ID, digests: ins.RepoDigests}, nil
}

// pull pulls ref with the credentials the docker CLI would use, reporting
// progress, and records it as pulled by quai (so Prune may remove it).
func (r *Runtime) pull(ctx context.Context, service, ref string) error {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return fmt.Errorf("image %q: %w", ref, err)
	}
	auth, err := r.registryAuth(reference.Domain(named))
	if err != nil {
		return err
	}
	r.progress(ctx, service, "pulling %s", ref)
	resp, err := r.cli.ImagePull(ctx, ref, client.ImagePullOptions{RegistryAuth: auth})
	if err != nil {
		if client.IsErrConnectionFailed(err) {
			return r.unavailable(err)
		}
		return fmt.Errorf("pull image %s: %w: %w; build it locally, check the name, or log in to the registry (docker login %s)",
			ref, err, runtime.ErrMissingDependency, reference.Domain(named))
	}
	last := map[string]string{}
	for msg, err := range resp.JSONMessages(ctx) {
		if err != nil {
			return fmt.Errorf("pull image %s: %w", ref, err)
		}
		if msg.Error != nil {
			return fmt.Errorf("pull image %s: %s: %w", ref, msg.Error.Message, runtime.ErrMissingDependency)
		}
		// Byte counts change many times a second; report each layer's
		// status changes only.
		if msg.Status != "" && last[msg.ID] != msg.Status {
			last[msg.ID] = msg.Status
			if msg.ID != "" {
				r.progress(ctx, service, "%s: %s", msg.ID, msg.Status)
			} else {
				r.progress(ctx, service, "%s", msg.Status)
			}
		}
	}
	return r.recordPulled(ref)
}

// registryAuth returns the encoded credentials for a registry from the
// docker CLI's configuration (config.json and credential helpers); none is
// not an error, the registry may be public.
func (r *Runtime) registryAuth(domain string) (string, error) {
	// registry.ConfigDir reads DOCKER_CONFIG at each call (config.Dir
	// keeps the first answer for the process), as the push does.
	dir := quaireg.ConfigDir(r.opts.DockerConfigDir)
	cf, err := config.Load(dir)
	if err != nil {
		return "", fmt.Errorf("read docker credentials in %s: %w", dir, err)
	}
	key := domain
	if domain == "docker.io" {
		key = "https://index.docker.io/v1/"
	}
	ac, err := cf.GetAuthConfig(key)
	if err != nil {
		return "", fmt.Errorf("docker credentials for %s: %w", domain, err)
	}
	if ac.Username == "" && ac.Password == "" && ac.IdentityToken == "" && ac.RegistryToken == "" && ac.Auth == "" {
		return "", nil
	}
	return authconfig.Encode(registry.AuthConfig{
		Username: ac.Username, Password: ac.Password, Auth: ac.Auth, ServerAddress: ac.ServerAddress,
		IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken,
	})
}

// BuildSpec is an image to build through the Engine API.
type BuildSpec struct {
	// Service is what progress is reported for.
	Service string
	// Context is the build context directory; .dockerignore in it applies.
	Context string
	// Dockerfile is relative to Context; default "Dockerfile".
	Dockerfile string
	Args       map[string]string
	Target     string
	// Repository is the image name; the tag is a hash of the context, the
	// Dockerfile, the arguments and the target, so an unchanged context is
	// built once.
	Repository string
	// Labels are put on the image, with quai.managed and the daemon's
	// identity.
	Labels map[string]string
}

// Built is a built image.
type Built struct {
	// Ref is repository:tag; ID the image id.
	Ref string
	ID  string
	// Cached is true when an image of the same content existed already.
	Cached bool
}

// BuildImage builds an image from a directory, unless an image of the same
// content exists, reporting the builder's output as progress.
func (r *Runtime) BuildImage(ctx context.Context, b BuildSpec) (Built, error) {
	if b.Dockerfile == "" {
		b.Dockerfile = "Dockerfile"
	}
	if b.Repository == "" {
		return Built{}, errors.New("build: no repository name")
	}
	excludes, err := readDockerignore(b.Context)
	if err != nil {
		return Built{}, err
	}
	excludes = trimBuildFiles(excludes, b.Dockerfile)
	// The context is read twice when it must be built, and once when an
	// image of its content exists: no copy of it is written.
	sum, err := contextSum(b.Context, excludes, b)
	if err != nil {
		return Built{}, err
	}
	ref := b.Repository + ":" + sum[:16]

	l := r.buildLock(ref)
	l.Lock()
	defer l.Unlock()
	if ins, err := r.cli.ImageInspect(ctx, ref); err == nil {
		return Built{Ref: ref, ID: ins.ID, Cached: true}, nil
	}
	f, err := contextTar(b.Context, excludes)
	if err != nil {
		return Built{}, err
	}
	defer func() { _ = f.Close() }()
	labels := map[string]string{LabelManaged: Name, runtime.LabelDaemon: r.daemonID}
	for k, v := range b.Labels {
		labels[k] = v
	}
	args := map[string]*string{}
	for k, v := range b.Args {
		args[k] = &v
	}
	r.progress(ctx, b.Service, "building %s from %s", ref, b.Context)
	resp, err := r.cli.ImageBuild(ctx, f, client.ImageBuildOptions{
		Tags: []string{ref}, Dockerfile: b.Dockerfile, BuildArgs: args, Target: b.Target,
		Labels: labels, Remove: true, ForceRemove: true,
	})
	if err != nil {
		return Built{}, r.wrap("build "+ref, err)
	}
	defer func() { _ = resp.Body.Close() }()
	dec := json.NewDecoder(resp.Body)
	var tail []string
	for {
		var msg jsonstream.Message
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return Built{}, fmt.Errorf("build %s: read the builder's output: %w", ref, err)
		}
		if msg.Error != nil {
			return Built{}, fmt.Errorf("build %s from %s: %s (last output: %s)", ref, b.Context, trimErr(msg.Error.Message), strings.Join(tail, " | "))
		}
		for _, line := range strings.Split(strings.TrimRight(msg.Stream, "\n"), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				r.progress(ctx, b.Service, "%s", line)
				tail = append(tail, line)
				if len(tail) > 5 {
					tail = tail[1:]
				}
			}
		}
	}
	ins, err := r.cli.ImageInspect(ctx, ref)
	if err != nil {
		return Built{}, r.wrap("inspect the built image "+ref, err)
	}
	return Built{Ref: ref, ID: ins.ID}, nil
}

func (r *Runtime) buildLock(ref string) *sync.Mutex {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.builds[ref]
	if !ok {
		l = &sync.Mutex{}
		r.builds[ref] = l
	}
	return l
}

func readDockerignore(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	defer func() { _ = f.Close() }()
	p, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("build context %s: .dockerignore: %w", dir, err)
	}
	return p, nil
}

// trimBuildFiles keeps the Dockerfile and .dockerignore in the context even
// when excluded: the builder needs them and drops them from the image
// itself (as the docker CLI does).
func trimBuildFiles(excludes []string, dockerfile string) []string {
	if m, _ := patternmatcher.Matches(".dockerignore", excludes); m {
		excludes = append(excludes, "!.dockerignore")
	}
	dockerfile = filepath.ToSlash(dockerfile)
	if m, _ := patternmatcher.Matches(dockerfile, excludes); m {
		excludes = append(excludes, "!"+dockerfile)
	}
	return excludes
}

// contextTar streams the build context as the builder receives it.
func contextTar(dir string, excludes []string) (io.ReadCloser, error) {
	rc, err := archive.TarWithOptions(dir, &archive.TarOptions{
		ExcludePatterns: excludes, ChownOpts: &archive.ChownOpts{UID: 0, GID: 0},
	})
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	return rc, nil
}

// contextSum hashes the build context as the builder receives it, every
// entry's name, type, mode, owner, link and content but not its times (a
// file written again with the same content, by a checkout or a generated
// .env, makes no new image), then the Dockerfile, the target and the
// arguments.
func contextSum(dir string, excludes []string, b BuildSpec) (string, error) {
	if _, err := os.Stat(filepath.Join(dir, b.Dockerfile)); err != nil {
		return "", fmt.Errorf("build context %s: %w", dir, err)
	}
	rc, err := contextTar(dir, excludes)
	if err != nil {
		return "", err
	}
	defer func() { _ = rc.Close() }()
	h := sha256.New()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("build context %s: %w", dir, err)
		}
		_, _ = fmt.Fprintf(h, "%s\x00%c\x00%o\x00%d:%d\x00%s\x00%d\x00", hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid, hdr.Linkname, hdr.Size)
		if _, err := io.Copy(h, tr); err != nil { //nolint:gosec // an uncompressed tar of the project directory quai reads anyway, not untrusted input
			return "", fmt.Errorf("build context %s: %w", dir, err)
		}
	}
	keys := make([]string, 0, len(b.Args))
	for k := range b.Args {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	_, _ = fmt.Fprintf(h, "\x00dockerfile=%s\x00target=%s", b.Dockerfile, b.Target)
	for _, k := range keys {
		_, _ = fmt.Fprintf(h, "\x00arg:%s=%s", k, b.Args[k])
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// pulledRecord lists the images the runtime pulled, so Prune removes those
// and never an image someone else pulled.
type pulledRecord struct {
	Images []string `json:"images"`
}

func (r *Runtime) pulledPath() string { return filepath.Join(r.opts.StateDir, "pulled.json") }

func (r *Runtime) readPulled() (pulledRecord, error) {
	var rec pulledRecord
	b, err := os.ReadFile(r.pulledPath())
	if errors.Is(err, os.ErrNotExist) {
		return rec, nil
	} else if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("%s: %w", r.pulledPath(), err)
	}
	return rec, nil
}

func (r *Runtime) recordPulled(ref string) error {
	r.pulledMu.Lock()
	defer r.pulledMu.Unlock()
	rec, err := r.readPulled()
	if err != nil {
		return err
	}
	if slices.Contains(rec.Images, ref) {
		return nil
	}
	rec.Images = append(rec.Images, ref)
	slices.Sort(rec.Images)
	return r.writePulled(rec)
}

func (r *Runtime) writePulled(rec pulledRecord) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFile(r.pulledPath(), b, 0o600)
}

// Prune removes the images the runtime built or pulled that no kept
// release references. keep holds image references or ids (a name:tag,
// name@digest or sha256:... id); an image is kept when any of them names it.
// Images still used by a container are left alone. It returns what it
// removed and the bytes freed (the images' sizes; layers shared with other
// images are not freed).
func (r *Runtime) Prune(ctx context.Context, keep []string) ([]string, int64, error) {
	imgs, err := r.prune(ctx, keep, false)
	var freed []string
	var bytes int64
	for _, im := range imgs {
		if len(im.Tags) == 0 {
			freed = append(freed, im.ID)
		}
		freed = append(freed, im.Tags...)
		bytes += im.Size
	}
	slices.Sort(freed)
	return freed, bytes, err
}

// prune is Prune and PruneImages: with dryRun it removes nothing and
// returns what it would remove.
func (r *Runtime) prune(ctx context.Context, keep []string, dryRun bool) ([]runtime.PrunedImage, error) {
	keepIDs := map[string]bool{}
	for _, k := range keep {
		ins, err := r.cli.ImageInspect(ctx, k)
		if cerrdefs.IsNotFound(err) {
			continue
		} else if err != nil {
			return nil, r.wrap("inspect kept image "+k, err)
		}
		keepIDs[ins.ID] = true
	}
	// An image a container uses (even a stopped one) cannot be removed;
	// leaving it out makes a dry run say what a real run would do.
	used, err := r.cli.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return nil, r.wrap("list containers", err)
	}
	for _, c := range used.Items {
		keepIDs[c.ImageID] = true
	}
	candidates := map[string]bool{}
	// Images another daemon sharing the engine built are its own to prune.
	list, err := r.cli.ImageList(ctx, client.ImageListOptions{Filters: r.ownFilter()})
	if err != nil {
		return nil, r.wrap("list images", err)
	}
	for _, im := range list.Items {
		candidates[im.ID] = true
	}
	r.pulledMu.Lock()
	defer r.pulledMu.Unlock()
	rec, err := r.readPulled()
	if err != nil {
		return nil, err
	}
	var stillPulled []string
	pulledIDs := map[string][]string{}
	for _, ref := range rec.Images {
		ins, err := r.cli.ImageInspect(ctx, ref)
		if cerrdefs.IsNotFound(err) {
			continue
		} else if err != nil {
			return nil, r.wrap("inspect image "+ref, err)
		}
		candidates[ins.ID] = true
		pulledIDs[ins.ID] = append(pulledIDs[ins.ID], ref)
	}
	var out []runtime.PrunedImage
	for id := range candidates {
		if keepIDs[id] {
			stillPulled = append(stillPulled, pulledIDs[id]...)
			continue
		}
		ins, err := r.cli.ImageInspect(ctx, id)
		if err != nil {
			continue
		}
		im := runtime.PrunedImage{ID: id, Tags: slices.Clone(ins.RepoTags), Size: ins.Size}
		slices.Sort(im.Tags)
		if dryRun {
			out = append(out, im)
			stillPulled = append(stillPulled, pulledIDs[id]...)
			continue
		}
		names := ins.RepoTags
		if len(names) == 0 {
			names = []string{id}
		}
		removed := true
		for _, n := range names {
			if _, err := r.cli.ImageRemove(ctx, n, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
				if !cerrdefs.IsConflict(err) && !cerrdefs.IsNotFound(err) {
					r.log.Warn("prune: remove image", "image", n, "err", err)
				}
				removed = false
				break
			}
		}
		if !removed {
			stillPulled = append(stillPulled, pulledIDs[id]...)
			continue
		}
		out = append(out, im)
	}
	slices.SortFunc(out, func(a, b runtime.PrunedImage) int { return strings.Compare(a.ID, b.ID) })
	slices.Sort(stillPulled)
	if !dryRun && !slices.Equal(stillPulled, rec.Images) {
		if err := r.writePulled(pulledRecord{Images: stillPulled}); err != nil {
			return out, err
		}
	}
	return out, nil
}
