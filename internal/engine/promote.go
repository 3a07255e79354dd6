package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/quai-dev/quai/internal/registry"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
)

// A promotion deploys to a target instance the images a release of another
// instance of the same project ran — by their recorded ids or registry
// digests, never rebuilt nor pulled by tag — with the target's own stack
// (its environment's overlay, configuration and secrets). The rules in the
// target's x-quai.promotion are checked first; the target's lock makes
// promotions (and every other operation) on one target run one at a time.

// ErrRefused: a promotion rule (x-quai.promotion) or a precondition of
// promotion does not hold; nothing was changed, and the error says which
// rule and how to satisfy it.
var ErrRefused = errors.New("promotion refused")

// PromoteRequest asks to promote a release of Source to Model's instance.
type PromoteRequest struct {
	// Model is the target's stack, loaded as `up` would load it for the
	// target environment and organization.
	Model *stack.Model
	// Source is the instance whose release is promoted.
	Source string
	// Release is the source release to promote; 0 means its active one.
	Release int
	// Runtime names the runtime of a target not installed yet ("" = the
	// default); an existing target keeps its own.
	Runtime string
	// DryRun checks the rules, plans and reports without changing anything.
	DryRun bool
	// NoWait fails with ErrBusy instead of waiting for a running operation
	// on the target.
	NoWait bool
	// Fingerprint is the Plan.Fingerprint the caller confirmed; the
	// promotion fails with ErrPlanChanged, before changing anything, when
	// its plan differs.
	Fingerprint string
}

// BackupChecker tells when an instance was last backed up. Without one, a
// promotion rule that asks for a recent backup is refused.
type BackupChecker interface {
	// LastBackup returns when the instance's newest complete backup was
	// taken; the zero time when it has none.
	LastBackup(ctx context.Context, instance string) (time.Time, error)
}

// promotion is a checked promotion, ready to plan and deploy.
type promotion struct {
	model *stack.Model // the target's model running the source's images
	json  []byte       // model as the release records it
	cause string
	// old is the model of the target's active release (nil: none), with
	// its images pinned, and oldSecrets its secret versions: what the
	// plan's summary compares with.
	old        *stack.Model
	oldSecrets map[string]string
	head       string // the summary's first line
}

// Promote deploys to req.Model's instance the images of a release of
// req.Source with the target's own stack, after checking the target's
// promotion rules. The new release's cause is "promoted from SOURCE
// release N". Like Up, on failure the target's previous replicas keep
// serving and the new release is marked failed.
func (e *Engine) Promote(ctx context.Context, req PromoteRequest, emit Emitter) (Release, error) {
	if req.Model == nil {
		return Release{}, fmt.Errorf("promote: no model: %w", ErrInvalid)
	}
	target := req.Model.Identity.Name()
	em := e.emitter(emit, target)
	fail := func(err error) (Release, error) {
		em.emit(Event{Kind: EventFailed, Error: err.Error()})
		return Release{}, err
	}
	pr, err := e.preparePromotion(ctx, req, em)
	if err != nil {
		return fail(err)
	}
	// The target's own sealed secrets, as up resolves them.
	if pr.model, pr.json, err = e.prepareModel(ctx, pr.model); err != nil {
		return fail(err)
	}
	preface := pr.head + promotionText(pr.old, pr.oldSecrets, pr.model)
	if req.DryRun {
		return e.dryRun(ctx, pr.model, pr.json, req.Runtime, preface, em)
	}
	op, err := e.begin(ctx, target, "promote", req.NoWait, em)
	if err != nil {
		return fail(err)
	}
	op.fingerprint, op.preface = req.Fingerprint, preface
	rel, msg, err := e.deploy(op, pr.model, pr.json, req.Runtime, pr.cause)
	op.finish(err, rel.Number, msg)
	return rel, err
}

// preparePromotion finds the source release, checks the rules and pins the
// target's model to the source's images.
func (e *Engine) preparePromotion(ctx context.Context, req PromoteRequest, em *emitter) (*promotion, error) {
	m := req.Model
	target := m.Identity.Name()
	srcInst, err := e.instance(ctx, req.Source)
	if err != nil {
		return nil, err
	}
	src, err := e.sourceRelease(ctx, srcInst, req.Release)
	if err != nil {
		return nil, err
	}
	if srcInst.Identity.Project != m.Identity.Project {
		return nil, fmt.Errorf("%s is project %s, %s is project %s: a promotion moves a release between environments of one project: %w",
			req.Source, srcInst.Identity.Project, target, m.Identity.Project, ErrRefused)
	}
	if srcInst.Name == target {
		return nil, fmt.Errorf("%s cannot be promoted to itself; name another environment with --to: %w", target, ErrRefused)
	}
	tgtRuntime := req.Runtime
	tgtActive := (*store.Release)(nil)
	if in, err := e.store.Instance(ctx, target); err == nil {
		tgtRuntime = in.Runtime
		if r, err := e.store.ActiveRelease(ctx, target); err == nil {
			tgtActive = &r
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	tgtRuntime = cmp.Or(tgtRuntime, e.defaultRuntime)
	if _, err := e.strategyFor(tgtRuntime); err != nil {
		return nil, err
	}

	var refusals []string
	refusals = append(refusals, e.checkRules(ctx, m.Promotion, srcInst, src, target)...)
	var pins map[string]string
	var imageless bool
	switch srcImages := e.runsImages(src.Runtime); {
	case srcImages:
		var pinRefusals []string
		pins, pinRefusals = promotionPins(m, srcInst, src, tgtRuntime)
		refusals = append(refusals, pinRefusals...)
	case e.runsImages(tgtRuntime):
		refusals = append(refusals, fmt.Sprintf("release %d of %s ran on the %s runtime, which runs no images, so there is none to deploy on %s; "+
			"promote from an instance on an image runtime (docker, kubernetes), or deploy %s with `quai up`", src.Number, srcInst.Name, src.Runtime, tgtRuntime, target))
	default:
		imageless = true
	}
	if len(refusals) > 0 {
		return nil, fmt.Errorf("promoting %s release %d to %s is refused:\n  - %s: %w",
			srcInst.Name, src.Number, target, strings.Join(refusals, "\n  - "), ErrRefused)
	}
	if imageless {
		em.emit(Event{Kind: EventWarning, Message: fmt.Sprintf(
			"the %s runtime runs no images: %s runs the commands and files of its own project directory (%s), not a copy of what %s ran",
			tgtRuntime, target, m.Dir, srcInst.Name)})
	}
	if p := m.Promotion; p != nil && p.RequireApproval {
		em.emit(Event{Kind: EventWarning, Message: fmt.Sprintf(
			"require_approval (%s) is not enforced yet: quai has no users to approve; it will be once users and roles exist", where(p, "require_approval"))})
	}

	pinned := m.WithImages(pins)
	var old *stack.Model
	if tgtActive != nil {
		if old, err = decodeModel(*tgtActive); err != nil {
			return nil, err
		}
		old = pinModel(old, tgtActive.Images)
	}
	pr := &promotion{model: pinned, old: old,
		head:  fmt.Sprintf("promote %s release %d to %s\n", srcInst.Name, src.Number, target),
		cause: fmt.Sprintf("promoted from %s release %d", srcInst.Name, src.Number)}
	if tgtActive != nil {
		pr.oldSecrets = tgtActive.Secrets
	}
	return pr, nil
}

// sourceRelease returns release n of the source (0: its active one), which
// must have run.
func (e *Engine) sourceRelease(ctx context.Context, in store.Instance, n int) (store.Release, error) {
	if n == 0 {
		r, err := e.store.ActiveRelease(ctx, in.Name)
		if errors.Is(err, store.ErrNotFound) {
			return r, fmt.Errorf("%s has no active release to promote; deploy it with `quai up`, or name a release with --release: %w", in.Name, ErrNoRelease)
		}
		return r, err
	}
	r, err := e.store.Release(ctx, in.Name, n)
	if errors.Is(err, store.ErrNotFound) {
		return r, fmt.Errorf("%s has no release %d; `quai releases %s` lists them: %w", in.Name, n, in.Name, ErrNoRelease)
	}
	if err == nil && (r.Status == store.StatusFailed || r.Status == store.StatusPending) {
		err = fmt.Errorf("release %d of %s never ran (%s); promote one that did (`quai releases %s`): %w", n, in.Name, r.Status, in.Name, ErrNoRelease)
	}
	return r, err
}

// checkRules returns what the target's promotion rules refuse, each saying
// which rule (and where it is written) and how to satisfy it.
func (e *Engine) checkRules(ctx context.Context, p *stack.Promotion, srcInst store.Instance, src store.Release, target string) []string {
	if p == nil {
		return nil
	}
	var out []string
	env := srcInst.Identity.Env
	if !slices.Contains(p.From, env) {
		out = append(out, fmt.Sprintf("from (%s) allows promotions to %s only from %s, not from %s; promote from %s, or add %s to from",
			where(p, "from"), target, strings.Join(p.From, ", "), env, p.From[0], env))
	}
	if p.MinHealthy > 0 {
		if msg := e.checkHealthy(ctx, p, srcInst, src); msg != "" {
			out = append(out, msg)
		}
	}
	if p.BackupMaxAge > 0 {
		if msg := e.checkBackup(ctx, p, target); msg != "" {
			out = append(out, msg)
		}
	}
	return out
}

// checkHealthy enforces min_healthy: the source release is the active one,
// every replica of the source is ready, and it switched over at least
// MinHealthy ago.
func (e *Engine) checkHealthy(ctx context.Context, p *stack.Promotion, srcInst store.Instance, src store.Release) string {
	rule := fmt.Sprintf("min_healthy %s (%s)", p.MinHealthy, where(p, "min_healthy"))
	if src.Status != store.StatusActive {
		return fmt.Sprintf("%s needs the promoted release active and healthy, but release %d of %s is %s; promote its active release (leave out --release)",
			rule, src.Number, srcInst.Name, src.Status)
	}
	st, err := e.status(ctx, srcInst)
	if err != nil {
		return fmt.Sprintf("%s: the health of %s is unknown (%v); check `quai status %s` and retry", rule, srcInst.Name, err, srcInst.Name)
	}
	if st.State != InstanceRunning {
		return fmt.Sprintf("%s needs %s healthy, but it is %s; fix it (`quai status %s`) and retry once it has been healthy for %s",
			rule, srcInst.Name, st.State, srcInst.Name, p.MinHealthy)
	}
	if src.Activated.IsZero() {
		return fmt.Sprintf("%s: when release %d of %s became active is not recorded; deploy it again or wait, then retry after %s",
			rule, src.Number, srcInst.Name, p.MinHealthy)
	}
	if up := e.now().Sub(src.Activated); up < p.MinHealthy {
		return fmt.Sprintf("%s: release %d of %s has been active for %s only; retry in %s (after %s)",
			rule, src.Number, srcInst.Name, up.Round(time.Second), (p.MinHealthy - up).Round(time.Second),
			src.Activated.Add(p.MinHealthy).UTC().Format(time.RFC3339))
	}
	return ""
}

// checkBackup enforces backup_max_age through the engine's BackupChecker.
func (e *Engine) checkBackup(ctx context.Context, p *stack.Promotion, target string) string {
	rule := fmt.Sprintf("backup_max_age %s (%s)", p.BackupMaxAge, where(p, "backup_max_age"))
	if e.lastBackup == nil {
		return rule + " needs a recent backup of " + target + ", but promotions cannot check backups yet (this daemon gives them no backup ages); remove backup_max_age from x-quai.promotion to promote without it"
	}
	last, err := e.lastBackup.LastBackup(ctx, target)
	switch {
	case err != nil:
		return fmt.Sprintf("%s: cannot tell when %s was last backed up: %v", rule, target, err)
	case last.IsZero():
		return fmt.Sprintf("%s: %s has no backup; back it up, then retry", rule, target)
	case e.now().Sub(last) > p.BackupMaxAge:
		return fmt.Sprintf("%s: the newest backup of %s is from %s; back it up, then retry", rule, target, last.UTC().Format(time.RFC3339))
	}
	return ""
}

// where names the file and line a promotion rule is written at.
func where(p *stack.Promotion, key string) string {
	pos := p.Where[key]
	if pos.IsZero() {
		return "x-quai.promotion." + key
	}
	return pos.String()
}

// promotionPins maps each service of the target to the image the source
// release ran, and returns what prevents that. A content-addressed id
// (sha256:…) exists only on the engine that built or pulled it, so it is
// promoted only to the same runtime; a registry digest (repo@sha256:…)
// runs anywhere. A service with neither an image nor a build (a process
// command) has nothing to pin.
func promotionPins(m *stack.Model, srcInst store.Instance, src store.Release, tgtRuntime string) (map[string]string, []string) {
	pins := map[string]string{}
	var out []string
	what := fmt.Sprintf("release %d of %s", src.Number, srcInst.Name)
	for _, svc := range m.Services {
		ref, recorded := src.Images[svc.Name]
		switch {
		case registry.IsPinned(ref):
			pins[svc.Name] = ref
		case runtime.IsImageID(ref) && tgtRuntime == src.Runtime:
			pins[svc.Name] = ref
		case runtime.IsImageID(ref):
			out = append(out, fmt.Sprintf("service %s: %s pins the image %s, an id that exists only on the %s runtime, and the target runs on %s; "+
				"set x-quai.registry so that up pushes images and releases pin repo@sha256 digests, deploy %s again, then promote",
				svc.Name, what, shortID(ref), src.Runtime, tgtRuntime, srcInst.Name))
		case svc.Image == "" && svc.Build == nil:
		case !recorded:
			out = append(out, fmt.Sprintf("service %s is not in %s: a promotion deploys only images that ran there; deploy the service to %s first, or remove it from the target's stack",
				svc.Name, what, srcInst.Name))
		default:
			out = append(out, fmt.Sprintf("service %s: %s records the image %q, not a digest, so promoting it would pull a tag that may have moved; "+
				"set x-quai.registry so releases pin repo@sha256 digests, deploy %s again, then promote", svc.Name, what, ref, srcInst.Name))
		}
	}
	return pins, out
}

// runsImages reports whether the named runtime runs images: it prepares
// them (Docker) or applies them declaratively (Kubernetes). The process
// runtime runs commands from the project directory instead. A runtime this
// daemon does not have is taken to run images, which only makes the
// promotion stricter.
func (e *Engine) runsImages(name string) bool {
	rt, ok := e.runtimes[name]
	if !ok {
		return true
	}
	_, images := rt.(runtime.ImageManager)
	_, replicas := rt.(runtime.ReplicaRunner)
	return images || !replicas
}

// promotionText is the promotion's part of the plan after its first line:
// per service the image change, the names of configuration keys that
// change and of the secrets it receives that change (+ new, ~ another
// version, - no longer received), never values. old is the target's
// active model (nil: a first install) with oldSecrets its secret
// versions; m the model to deploy, its secrets resolved.
func promotionText(old *stack.Model, oldSecrets map[string]string, m *stack.Model) string {
	var b strings.Builder
	for _, svc := range m.Services {
		var was *stack.Service
		if old != nil {
			was = old.Service(svc.Name)
		}
		var lines []string
		switch {
		case was == nil:
			lines = append(lines, "image "+imageLabel(svc.Image)+" (new service)")
		case was.Image != svc.Image:
			lines = append(lines, "image "+imageLabel(was.Image)+" → "+imageLabel(svc.Image))
		default:
			lines = append(lines, "image "+imageLabel(svc.Image)+" (unchanged)")
		}
		var wasSecrets []string
		if was != nil {
			if ch := mapChanges(was.Environment, svc.Environment); ch != "" {
				lines = append(lines, "config "+ch)
			}
			wasSecrets = receivedSecrets(was)
		}
		if ch := secretChanges(wasSecrets, receivedSecrets(svc), oldSecrets, m.SecretVersions); ch != "" {
			lines = append(lines, "secrets "+ch)
		}
		fmt.Fprintf(&b, "  %s: %s\n", svc.Name, strings.Join(lines, "; "))
	}
	return b.String()
}

// receivedSecrets lists, by name, the secrets a service receives as files
// or in its environment.
func receivedSecrets(svc *stack.Service) []string {
	names := slices.Concat(svc.Secrets, slices.Collect(maps.Values(svc.SecretEnv)))
	slices.Sort(names)
	return slices.Compact(names)
}

// secretChanges names the secrets received now and not before (+), the
// sealed ones whose version changes (~) and those no longer received (-).
func secretChanges(was, now []string, wasVersions, nowVersions map[string]string) string {
	var parts []string
	for _, name := range now {
		switch {
		case !slices.Contains(was, name):
			parts = append(parts, "+"+name)
		case wasVersions[name] != nowVersions[name]:
			parts = append(parts, "~"+name)
		}
	}
	for _, name := range was {
		if !slices.Contains(now, name) {
			parts = append(parts, "-"+name)
		}
	}
	return strings.Join(parts, " ")
}

// imageLabel shortens an image id as the docker CLI does; references stay whole.
func imageLabel(ref string) string {
	switch {
	case ref == "":
		return "(none)"
	case runtime.IsImageID(ref):
		return "sha256:" + shortID(ref)
	}
	return ref
}

// mapChanges names the keys added, changed and removed between two
// environments ("+NEW ~CHANGED -GONE"), never their values.
func mapChanges(was, now map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(now)) {
		if v, ok := was[k]; !ok {
			parts = append(parts, "+"+k)
		} else if v != now[k] {
			parts = append(parts, "~"+k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(was)) {
		if _, ok := now[k]; !ok {
			parts = append(parts, "-"+k)
		}
	}
	return strings.Join(parts, " ")
}
