package docker

import (
	"context"
	"errors"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/quai-dev/quai/internal/runtime"
)

// progressKey carries a caller's progress reporter in a context, so that
// the builds and pulls of concurrent deploys report to their own caller.
type progressKey struct{}

// WithProgress returns a context whose builds and pulls report to fn
// instead of Options.Progress.
func WithProgress(ctx context.Context, fn func(msg string)) context.Context {
	if fn == nil {
		return ctx
	}
	return context.WithValue(ctx, progressKey{}, fn)
}

// missingPinned is the error for a pinned image that left the engine.
func (r *Runtime) missingPinned(id string) error {
	return fmt.Errorf("image %s, which the release pins, is no longer on the engine at %s (it was removed outside quai): %w; "+
		"deploy with `quai up` to build or pull the service's image again", id, r.host, runtime.ErrMissingDependency)
}

// PrepareImage implements runtime.ImageManager: it builds or pulls the
// service's image as Start would, reporting to progress, and returns the
// image id. An id is only looked up.
func (r *Runtime) PrepareImage(ctx context.Context, spec runtime.ReplicaSpec, progress func(msg string)) (string, error) {
	svc := spec.Service
	if svc == nil {
		return "", errors.New("docker runtime: prepare image: the spec names no service")
	}
	if svc.Build == nil && runtime.IsImageID(svc.Image) {
		ins, err := r.cli.ImageInspect(ctx, svc.Image)
		if cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("service %s: %w", svc.Name, r.missingPinned(svc.Image))
		}
		if err != nil {
			return "", r.wrap("service "+svc.Name+": inspect image "+svc.Image, err)
		}
		return ins.ID, nil
	}
	img, err := r.ensureImage(WithProgress(ctx, progress), spec)
	if err != nil {
		return "", fmt.Errorf("service %s: %w", svc.Name, err)
	}
	return img.id, nil
}

// PruneImages implements runtime.ImageManager.
func (r *Runtime) PruneImages(ctx context.Context, keep []string, dryRun bool) ([]runtime.PrunedImage, error) {
	return r.prune(ctx, keep, dryRun)
}

var _ runtime.ImageManager = (*Runtime)(nil)
