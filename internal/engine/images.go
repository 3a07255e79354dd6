package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/quai-dev/quai/internal/registry"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
)

// On runtimes that run images (runtime.ImageManager), a release records in
// Images the content-addressed id of every service's image, and replicas
// are started from that id rather than from the stack's tag or build
// context: a rollback, a restart or a scale-up then runs exactly what the
// release ran, even if the tag moved or the source changed, and never
// pulls or rebuilds.
//
// With x-quai.registry the pin is a registry reference instead,
// repo@sha256:digest: built images are pushed to
// <url>/<project>-<service> (tagged with the release number and the
// stack's tag) and pulled ones keep the digest they were pulled by, so any
// runtime, on any host, can run exactly that image.

// isPinned reports whether ref names exactly one image: an image id or a
// repo@sha256:digest reference.
func isPinned(ref string) bool { return runtime.IsImageID(ref) || registry.IsPinned(ref) }

// ReleaseTag is the tag a release's pushed images carry besides the
// stack's own: "release-<n>".
func ReleaseTag(n int) string { return "release-" + strconv.Itoa(n) }

// pinModel returns a copy of m whose services run the image ids recorded
// in images (build settings dropped); services without an id are shared
// with m. m itself is never changed: it is what the release stores.
func pinModel(m *stack.Model, images map[string]string) *stack.Model {
	if m == nil {
		return nil
	}
	out := *m
	out.Services = make([]*stack.Service, len(m.Services))
	for i, svc := range m.Services {
		out.Services[i] = svc
		if id := images[svc.Name]; isPinned(id) {
			c := *svc
			c.Image, c.Build = id, nil
			out.Services[i] = &c
		}
	}
	return &out
}

// prepareImages makes the images of the services the plan starts replicas
// of available (built with `build:`, pulled, or an id checked), reporting
// each as an "image" step with the runtime's progress, and returns the
// release's image map and the model to execute, whose services run the
// pins: image ids, or with x-quai.registry repo@sha256:digest references
// (publishImage). A repo@digest reference in the model (a rollback's, a
// promotion's, or written in the stack) is run and recorded as it is. A
// service kept with the same spec keeps the pin of the active release.
// Runtimes without images get the stack's references.
func (e *Engine) prepareImages(op *operation, s *snapshot, m *stack.Model, p Plan) (map[string]string, *stack.Model, error) {
	im, ok := s.rt.(runtime.ImageManager)
	if !ok {
		return images(m), m, nil
	}
	actions := make(map[string]Action, len(p.Services))
	for _, sp := range p.Services {
		actions[sp.Service] = sp.Action
	}
	pins := map[string]string{}
	for _, svc := range m.Services {
		if isPinned(svc.Image) && svc.Build == nil {
			pins[svc.Name] = svc.Image // a rollback's recorded image
			continue
		}
		if s.activeModel == nil || s.obs.Declared[svc.Name] != svc.Hash {
			continue
		}
		if act := s.activeModel.Service(svc.Name); act != nil && isPinned(act.Image) {
			pins[svc.Name] = act.Image
		}
	}
	run := pinModel(m, pins)
	out := make(map[string]string, len(m.Services))
	var todo []int // the services whose image is prepared
	for i, svc := range run.Services {
		switch actions[svc.Name] {
		case ActionKeep, ActionRemove, "":
			id := pins[svc.Name]
			if id == "" {
				if m.Services[i].Image != "" {
					out[svc.Name] = m.Services[i].Image
				}
				continue
			}
			// A registry added to a running instance: what keeps running
			// is published too, so the release pins registry references
			// only (what another runtime can run). Nothing restarts.
			if m.Registry != nil && runtime.IsImageID(id) && actions[svc.Name] == ActionKeep {
				ref, err := e.publishImage(op, im, m, m.Services[i], id, p.Release)
				if err != nil {
					return nil, nil, err
				}
				id = ref
			}
			out[svc.Name] = id
			continue
		}
		todo = append(todo, i)
	}
	// The images are independent: they are built, pulled and published
	// side by side; the first failure in service order is reported.
	ids := make([]string, len(run.Services))
	errs := make([]error, len(run.Services))
	var wg sync.WaitGroup
	for _, i := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := run.Services[i]
			id, err := e.prepareImage(op, im, run, svc)
			switch {
			case err != nil:
			case registry.IsPinned(svc.Image):
				id = svc.Image
			case m.Registry != nil:
				id, err = e.publishImage(op, im, m, m.Services[i], id, p.Release)
			}
			ids[i], errs[i] = id, err
		}()
	}
	wg.Wait()
	for _, i := range todo {
		if errs[i] != nil {
			return nil, nil, errs[i]
		}
		svc, id := run.Services[i], ids[i]
		if svc.Image != id || svc.Build != nil {
			c := *svc
			c.Image, c.Build = id, nil
			run.Services[i] = &c
		}
		out[svc.Name] = id
	}
	return out, run, nil
}

// prepareImage prepares one service's image as an "image" step.
func (e *Engine) prepareImage(op *operation, im runtime.ImageManager, m *stack.Model, svc *stack.Service) (string, error) {
	what := "checking image " + svc.Image
	switch {
	case svc.Build != nil:
		what = "building the image from " + svc.Build.Context
	case !runtime.IsImageID(svc.Image):
		what = "preparing image " + svc.Image
	}
	op.emit.step("image", svc.Name, "", what)
	progress := func(msg string) {
		op.emit.emit(Event{Kind: EventProgress, Step: "image", Service: svc.Name, Message: msg})
	}
	spec := runtime.ReplicaSpec{Instance: m.Identity, Service: svc, ProjectDir: m.Dir}
	id, err := im.PrepareImage(op.ctx, spec, progress)
	if err != nil {
		return "", fmt.Errorf("service %s: image: %w", svc.Name, err)
	}
	if !runtime.IsImageID(id) {
		return "", fmt.Errorf("service %s: the %s runtime returned %q, not an image id", svc.Name, op.e.runtimeNameOf(im), id)
	}
	op.emit.stepDone("image", svc.Name, "", shortID(id))
	return id, nil
}

// publishImage returns the registry reference a release pins for svc's
// image (id on the engine): the digest it was pulled by, or, for an image
// built here or only tagged locally, the digest of its push to the stack's
// registry as <url>/<project>-<service>:release-<n> and :<the stack's tag>.
// The push is a "push" step with the runtime's progress.
func (e *Engine) publishImage(op *operation, im runtime.ImageManager, m *stack.Model, svc *stack.Service, id string, release int) (string, error) {
	ip, ok := im.(runtime.ImagePusher)
	if !ok {
		return "", fmt.Errorf("service %s: %s is set, but the %s runtime cannot push images; remove the registry from the stack or deploy on a runtime that builds images (docker)",
			svc.Name, registryWhere(m.Registry), e.runtimeNameOf(im))
	}
	if svc.Build == nil {
		ref, err := ip.RepoDigest(op.ctx, svc.Image)
		if err != nil {
			return "", fmt.Errorf("service %s: image %s: %w", svc.Name, svc.Image, err)
		}
		if ref != "" {
			return ref, nil
		}
	}
	host := m.Registry.Host()
	auth, err := registry.Lookup(e.dockerConfig, host)
	if err != nil {
		return "", fmt.Errorf("service %s: push to the registry %s (%s): %w", svc.Name, host, registryWhere(m.Registry), err)
	}
	repo := registry.Repository(m.Registry.URL, m.Identity.Project, svc.Name)
	refs := []string{repo + ":" + ReleaseTag(release)}
	if tag := registry.TagOf(svc.Image); tag != "" {
		refs = append(refs, repo+":"+tag)
	}
	op.emit.step("push", svc.Name, "", "pushing the image to "+repo)
	progress := func(msg string) {
		op.emit.emit(Event{Kind: EventProgress, Step: "push", Service: svc.Name, Message: msg})
	}
	digest, err := ip.PushImage(op.ctx, id, refs, auth, progress)
	if err != nil {
		creds := "no credentials (anonymous)"
		if !auth.Anonymous() {
			creds = "the credentials of " + auth.ConfigFile
		}
		return "", fmt.Errorf("service %s: push to the registry %s with %s: %w; check them with `docker login %s` (DOCKER_CONFIG=%s), or fix %s",
			svc.Name, host, creds, err, host, filepath.Dir(auth.ConfigFile), registryWhere(m.Registry))
	}
	ref := registry.Pinned(repo, digest)
	op.emit.stepDone("push", svc.Name, "", ref)
	return ref, nil
}

// registryWhere names a stack's registry setting and where it was written.
func registryWhere(r *stack.Registry) string {
	if r.Pos.IsZero() {
		return "x-quai.registry " + r.URL
	}
	return "x-quai.registry " + r.URL + " at " + r.Pos.String()
}

// runtimeNameOf names a runtime for messages.
func (e *Engine) runtimeNameOf(im runtime.ImageManager) string {
	if rt, ok := im.(runtime.Runtime); ok {
		return rt.Name()
	}
	return "image"
}

// shortID is an image id as the docker CLI shows it.
func shortID(id string) string {
	s := strings.TrimPrefix(id, "sha256:")
	if len(s) > 12 {
		s = s[:12]
	}
	return s
}

// PrunedImage is an image Prune removed, or would remove, on one runtime.
type PrunedImage struct {
	Runtime string `json:"runtime"`
	runtime.PrunedImage
}

// PruneReport is what Prune removed, or with DryRun would remove.
type PruneReport struct {
	DryRun bool          `json:"dry_run"`
	Images []PrunedImage `json:"images"`
	// Bytes adds up the images' sizes; layers they share with kept images
	// are not freed.
	Bytes int64 `json:"bytes"`
	// Kept is how many image references the releases keep.
	Kept int `json:"kept"`
	// FailedReplicas are the replicas failed releases kept for their logs
	// that prune removed (instance/replica), before the images they ran.
	FailedReplicas []string `json:"failed_replicas,omitempty"`
}

// Prune removes, on every runtime that keeps images, the images quai built
// or pulled that no kept release references (active, superseded or still
// pending: the ones rollback may start) and no container uses. With dryRun
// it removes nothing and reports what it would remove. Deploys wait while
// it runs, so an image built for a release not yet recorded is not taken.
// It first removes the stopped replicas that failed releases kept for
// their logs (on every replica runtime).
func (e *Engine) Prune(ctx context.Context, dryRun bool) (PruneReport, error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return PruneReport{}, ErrClosed
	}
	e.mu.Unlock()
	if dryRun {
		e.images.RLock()
		defer e.images.RUnlock()
	} else {
		e.images.Lock()
		defer e.images.Unlock()
	}
	// The stopped replicas of failed releases go first: their containers
	// would hold the images.
	failed, err := e.pruneKept(ctx, dryRun)
	if err != nil {
		return PruneReport{}, err
	}
	keep, err := e.keptImages(ctx)
	if err != nil {
		return PruneReport{}, err
	}
	rep := PruneReport{DryRun: dryRun, Images: []PrunedImage{}, Kept: len(keep), FailedReplicas: failed}
	for _, name := range runtimeNames(e.runtimes) {
		im, ok := e.runtimes[name].(runtime.ImageManager)
		if !ok {
			continue
		}
		pruned, err := im.PruneImages(ctx, keep, dryRun)
		for _, p := range pruned {
			rep.Images = append(rep.Images, PrunedImage{Runtime: name, PrunedImage: p})
			rep.Bytes += p.Size
		}
		if err != nil {
			return rep, fmt.Errorf("prune images on the %s runtime: %w", name, err)
		}
	}
	return rep, nil
}

// keptImages lists the image references and ids of every release that a
// rollback may start or that is being deployed.
func (e *Engine) keptImages(ctx context.Context) ([]string, error) {
	instances, err := e.store.Instances(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, in := range instances {
		rels, err := e.store.Releases(ctx, in.Name)
		if err != nil {
			return nil, err
		}
		for _, r := range rels {
			if r.Status == store.StatusFailed {
				continue
			}
			for _, ref := range r.Images {
				seen[ref] = true
			}
		}
	}
	keep := make([]string, 0, len(seen))
	for ref := range seen {
		keep = append(keep, ref)
	}
	sort.Strings(keep)
	return keep, nil
}

// holdImages keeps Prune away while a deploy prepares images and records
// the release that references them; the returned func releases it.
func (e *Engine) holdImages() func() {
	e.images.RLock()
	return e.images.RUnlock
}
