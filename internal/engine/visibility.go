package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
)

type visibilityKey struct{}

// WithVisibility returns ctx under which the engine answers as if only the
// instances visible accepts existed, where that matters for isolation:
// List leaves the others out, and "instance not found" suggests only
// visible names. The API sets it for a remote user; without it every
// instance is visible (the unix socket, the scheduler).
func WithVisibility(ctx context.Context, visible func(stack.Identity) bool) context.Context {
	return context.WithValue(ctx, visibilityKey{}, visible)
}

func visibleIn(ctx context.Context) func(stack.Identity) bool {
	if f, ok := ctx.Value(visibilityKey{}).(func(stack.Identity) bool); ok && f != nil {
		return f
	}
	return func(stack.Identity) bool { return true }
}

// Identity returns an installed instance's identity; the error is the
// same *NotFoundError as any other call's for an unknown (or, under
// WithVisibility, invisible) instance. It reads the store only, so
// authorizing a request costs no runtime call.
func (e *Engine) Identity(ctx context.Context, name string) (stack.Identity, error) {
	in, err := e.store.Instance(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		// A removed instance whose volumes were kept is still a target
		// (volumes rm, rm --purge).
		if removed, rerr := e.store.RemovedInstances(ctx); rerr == nil {
			for _, r := range removed {
				if r.Name == name {
					return r.Identity, nil
				}
			}
		}
		return stack.Identity{}, e.NotFound(ctx, name)
	}
	if err != nil {
		return stack.Identity{}, err
	}
	return in.Identity, nil
}

// Identities returns every installed instance's identity by name (for
// filtering lists of things that name instances).
func (e *Engine) Identities(ctx context.Context) (map[string]stack.Identity, error) {
	list, err := e.store.Instances(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]stack.Identity, len(list))
	for _, in := range list {
		out[in.Name] = in.Identity
	}
	return out, nil
}

// NotFound is the error for an instance name that is unknown, with close
// matches among the instances visible under ctx: an instance the caller
// may not see gets exactly this answer too.
func (e *Engine) NotFound(ctx context.Context, name string) error {
	visible := visibleIn(ctx)
	var names []string
	if list, err := e.store.Instances(ctx); err == nil {
		for _, i := range list {
			if visible(i.Identity) {
				names = append(names, i.Name)
			}
		}
	}
	return &NotFoundError{Kind: "instance", Name: name, Suggestions: suggest(name, names)}
}

// ActiveModel returns the model of an instance's active release.
func (e *Engine) ActiveModel(ctx context.Context, name string) (*stack.Model, error) {
	if _, err := e.instance(ctx, name); err != nil {
		return nil, err
	}
	r, err := e.store.ActiveRelease(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%s has no active release: %w", name, ErrNoRelease)
	}
	if err != nil {
		return nil, err
	}
	return decodeModel(r)
}
