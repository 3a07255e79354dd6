package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/store"
	"github.com/quai-dev/quai/internal/wire"
)

// VolumeList is what Volumes returns; the API sends it as is.
type VolumeList = wire.VolumeList

// keepRemoved records a removed instance whose runtime kept volumes, so
// that `rm --purge` and `quai volumes rm` find them later; a purge forgets
// any such record.
func (e *Engine) keepRemoved(ctx context.Context, st strategy, inst store.Instance, purge bool) error {
	if purge {
		return e.store.DeleteRemovedInstance(ctx, inst.Name)
	}
	vm, ok := st.runtime().(runtime.VolumeManager)
	if !ok {
		return nil
	}
	vols, err := vm.Volumes(ctx, inst.Identity)
	if err != nil || len(vols) == 0 {
		return nil //nolint:nilerr // a runtime that cannot list its volumes now leaves them to `quai volumes ls` later, as before
	}
	return e.store.PutRemovedInstance(ctx, store.RemovedInstance{Name: inst.Name, Identity: inst.Identity,
		Runtime: inst.Runtime, Dir: inst.Dir, Removed: e.now()})
}

// removedInstance returns the record of an instance removed with its
// volumes kept.
func (e *Engine) removedInstance(ctx context.Context, name string) (store.RemovedInstance, bool) {
	list, err := e.store.RemovedInstances(ctx)
	if err != nil {
		return store.RemovedInstance{}, false
	}
	i := slices.IndexFunc(list, func(r store.RemovedInstance) bool { return r.Name == name })
	if i < 0 {
		return store.RemovedInstance{}, false
	}
	return list[i], true
}

// PurgeVolumes deletes the volumes and data an earlier removal of instance
// kept (and its generated secrets, which that data was made with). An
// installed instance's volumes are in use: `rm --purge` removes it with
// them.
func (e *Engine) PurgeVolumes(ctx context.Context, instance string, emit Emitter) error {
	em := e.emitter(emit, instance)
	if _, err := e.store.Instance(ctx, instance); err == nil {
		err := fmt.Errorf("%s is installed and uses its volumes: `quai rm --purge %s` removes it with them: %w", instance, instance, ErrInvalid)
		em.emit(Event{Kind: EventFailed, Error: err.Error()})
		return err
	}
	if _, ok := e.removedInstance(ctx, instance); !ok {
		err := e.notFound(ctx, instance)
		em.emit(Event{Kind: EventFailed, Error: err.Error()})
		return err
	}
	return e.purgeRemoved(ctx, instance, em)
}

// purgeRemoved deletes what the removal of instance kept, under the
// instance's lock.
func (e *Engine) purgeRemoved(ctx context.Context, instance string, em *emitter) error {
	op, err := e.begin(ctx, instance, "purge", false, em)
	if err != nil {
		em.emit(Event{Kind: EventFailed, Error: err.Error()})
		return err
	}
	msg, err := e.purge(op)
	op.finish(err, 0, msg)
	return err
}

func (e *Engine) purge(op *operation) (string, error) {
	ctx := op.ctx
	// Checked again under the lock: an `up` may have installed it again
	// meanwhile, and then the volumes are its own.
	if _, err := e.store.Instance(ctx, op.instance); err == nil {
		return "", fmt.Errorf("%s was installed again meanwhile and uses these volumes: `quai rm --purge %s` removes it with them: %w", op.instance, op.instance, ErrInvalid)
	}
	r, ok := e.removedInstance(ctx, op.instance)
	if !ok {
		return "", e.notFound(ctx, op.instance)
	}
	st, err := e.strategyFor(r.Runtime)
	if err != nil {
		return "", fmt.Errorf("the volumes of %s are on the %s runtime: %w", op.instance, r.Runtime, err)
	}
	msg := "deleted what remained of " + op.instance + " (removed earlier)"
	if vm, ok := st.runtime().(runtime.VolumeManager); ok {
		vols, _ := vm.Volumes(ctx, r.Identity)
		op.emit.step("volumes", "", "", "deleting volumes and data")
		if err := vm.RemoveVolumes(ctx, r.Identity); err != nil {
			return "", fmt.Errorf("remove volumes of %s (fix what is named and run rm --purge again): %w", op.instance, err)
		}
		op.emit.stepDone("volumes", "", "", "")
		if len(vols) > 0 {
			msg = "deleted the volumes and data of " + op.instance + " (removed earlier): " + strings.Join(vols, ", ")
		}
	}
	wctx := context.WithoutCancel(ctx)
	if err := e.store.DeleteSecretVersions(wctx, op.instance); err != nil {
		return "", err
	}
	return msg, e.store.DeleteRemovedInstance(wctx, op.instance)
}

// notFound is the error for a name that is neither installed nor removed
// with kept volumes, with the close matches of both.
func (e *Engine) notFound(ctx context.Context, name string) error {
	var names []string
	visible := visibleIn(ctx)
	if list, err := e.store.Instances(ctx); err == nil {
		for _, i := range list {
			if visible(i.Identity) {
				names = append(names, i.Name)
			}
		}
	}
	if list, err := e.store.RemovedInstances(ctx); err == nil {
		for _, r := range list {
			if visible(r.Identity) {
				names = append(names, r.Name)
			}
		}
	}
	return &NotFoundError{Kind: "instance", Name: name, Suggestions: suggest(name, names)}
}

// Volumes lists the volumes the runtimes keep for installed instances and
// for instances removed without a purge ("" = every instance), with their
// sizes where the runtime can tell. A runtime that cannot be asked is
// named in the list's Errors rather than failing the whole list.
func (e *Engine) Volumes(ctx context.Context, instance string) (VolumeList, error) {
	insts, err := e.store.Instances(ctx)
	if err != nil {
		return VolumeList{}, err
	}
	removed, err := e.store.RemovedInstances(ctx)
	if err != nil {
		return VolumeList{}, err
	}
	type owner struct {
		store.RemovedInstance
		state wire.VolumeState
	}
	var owners []owner
	installed := map[string]bool{}
	for _, in := range insts {
		installed[in.Name] = true
		owners = append(owners, owner{store.RemovedInstance{Name: in.Name, Identity: in.Identity, Runtime: in.Runtime, Dir: in.Dir}, wire.VolumeInUse})
	}
	for _, r := range removed {
		if !installed[r.Name] {
			owners = append(owners, owner{r, wire.VolumeKept})
		}
	}
	slices.SortFunc(owners, func(a, b owner) int { return strings.Compare(a.Name, b.Name) })
	if instance != "" {
		owners = slices.DeleteFunc(owners, func(o owner) bool { return o.Name != instance })
		if len(owners) == 0 {
			return VolumeList{}, e.notFound(ctx, instance)
		}
	}
	out := VolumeList{Volumes: []wire.Volume{}}
	for _, o := range owners {
		st, err := e.strategyFor(o.Runtime)
		if err != nil {
			out.Errors = append(out.Errors, fmt.Sprintf("%s: %v", o.Name, err))
			continue
		}
		vm, ok := st.runtime().(runtime.VolumeManager)
		if !ok {
			continue
		}
		names, err := vm.Volumes(ctx, o.Identity)
		if err != nil {
			out.Errors = append(out.Errors, fmt.Sprintf("%s: %v", o.Name, err))
			continue
		}
		var sizes map[string]int64
		if vs, ok := vm.(runtime.VolumeSizer); ok && len(names) > 0 {
			if sizes, err = vs.VolumeSizes(ctx, o.Identity); err != nil && !errors.Is(err, context.Canceled) {
				out.Errors = append(out.Errors, fmt.Sprintf("%s: sizes: %v", o.Name, err))
			}
		}
		for _, n := range names {
			size, known := sizes[n]
			if !known {
				size = -1
			}
			out.Volumes = append(out.Volumes, wire.Volume{Instance: o.Name, Runtime: o.Runtime, Name: n, State: o.state, Bytes: size,
				Removed: o.Removed, Dir: o.Dir,
				Identity: wire.Identity{Org: o.Identity.OrgOrDefault(), Project: o.Identity.Project, Env: o.Identity.Env}})
		}
	}
	return out, ctx.Err()
}
