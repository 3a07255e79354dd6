package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/docker"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
)

// promoteHarness is the Docker harness with two instances of one project:
// staging (the source) and h.id (the target, "prod").
type promoteHarness struct {
	*dockerHarness
	staging stack.Identity
}

func newPromoteHarness(t *testing.T) *promoteHarness {
	h := newDockerHarness(t)
	p := &promoteHarness{dockerHarness: h, staging: h.id}
	p.staging.Env = h.id.Env + "-staging"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = h.eng.Remove(ctx, p.staging.Name(), true, nil)
		if hs, err := h.rt.List(ctx, p.staging); err == nil {
			for _, hd := range hs {
				_ = h.rt.Stop(ctx, hd, time.Second)
				_ = h.rt.Remove(ctx, hd)
			}
		}
	})
	return p
}

// stagingModel is the stack built from the build context as it is now
// (content version), for staging.
func (p *promoteHarness) stagingModel(version string) *stack.Model {
	m := p.model(version)
	m.Identity = p.staging
	return m
}

// prodModel is the target's stack: the same build context (rewritten with
// content version), with prod's own configuration and rules.
func (p *promoteHarness) prodModel(version string, rules *stack.Promotion) *stack.Model {
	m := p.model(version)
	svc := m.Services[0]
	svc.Environment = map[string]string{"VERSION": version, "MODE": "prod"}
	svc.Hash = serviceHash(svc)
	m.Promotion = rules
	return m
}

// runningOf returns the image id the instance's one replica runs.
func (p *promoteHarness) runningOf(id stack.Identity) string {
	saved := p.id
	p.id = id
	defer func() { p.id = saved }()
	return p.running()
}

// keepTags makes the harness remove the tags of image id at the end.
func (p *promoteHarness) keepTags(id string) {
	if ins, err := p.cli.ImageInspect(context.Background(), id); err == nil {
		p.tags = append(p.tags, ins.RepoTags...)
	}
}

func builtOrPulled(list []Event) []Event {
	var out []Event
	for _, e := range list {
		if e.Step == "image" && (strings.Contains(e.Message, "building") || strings.Contains(e.Message, "pulling")) {
			out = append(out, e)
		}
	}
	return out
}

// TestPromoteRunsTheSourceImages promotes staging to prod on one Docker
// Engine after the build context moved on: prod runs staging's image id,
// nothing is built, prod keeps its own configuration, the release says
// where it came from, a dry run changes nothing, and a rollback of prod
// returns it to the image it ran before.
func TestPromoteRunsTheSourceImages(t *testing.T) {
	p := newPromoteHarness(t)
	ctx := context.Background()
	stg, err := p.eng.Up(ctx, UpRequest{Model: p.stagingModel("1")}, nil)
	if err != nil {
		t.Fatalf("up staging: %v", err)
	}
	pin1 := stg.Images["app"]
	p.keepTags(pin1)
	if !runtime.IsImageID(pin1) {
		t.Fatalf("staging pins %v: want an image id", stg.Images)
	}
	rules := &stack.Promotion{From: []string{p.staging.Env}}

	// The source changed after staging's deploy: an `up` of prod would
	// build version 2; a promotion must not.
	prod := p.prodModel("2", rules)
	var dry events
	if _, err := p.eng.Promote(ctx, PromoteRequest{Model: prod, Source: p.staging.Name(), DryRun: true}, dry.emit); err != nil {
		t.Fatalf("dry run: %v\n%v", err, dry.list)
	}
	var planText string
	for _, e := range dry.list {
		if e.Kind == EventPlan {
			planText = e.Text
		}
	}
	wantHead := "promote " + p.staging.Name() + " release 1 to " + p.id.Name() + "\n  app: image sha256:" + shortID(pin1) + " (new service)\n"
	if !strings.HasPrefix(planText, wantHead) {
		t.Errorf("dry-run plan:\n%s\nwant it to start with:\n%s", planText, wantHead)
	}
	if _, err := p.st.Instance(ctx, p.id.Name()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after a dry run the target exists (%v): a dry run must change nothing", err)
	}
	if hs, err := p.rt.List(ctx, p.id); err != nil || len(hs) != 0 {
		t.Errorf("after a dry run the target has replicas %v (%v)", hs, err)
	}

	var ev events
	rel, err := p.eng.Promote(ctx, PromoteRequest{Model: prod, Source: p.staging.Name()}, ev.emit)
	if err != nil {
		t.Fatalf("promote: %v\n%v", err, ev.list)
	}
	ev.checkTerminal(t, EventDone)
	if got := p.runningOf(p.id); got != pin1 || rel.Images["app"] != pin1 {
		t.Errorf("prod runs %s and its release pins %v: want staging's %s", got, rel.Images, pin1)
	}
	if b := builtOrPulled(ev.list); len(b) > 0 {
		t.Errorf("the promotion built or pulled: %v", b)
	}
	wantCause := "promoted from " + p.staging.Name() + " release 1"
	if rel.Cause != wantCause {
		t.Errorf("cause %q, want %q", rel.Cause, wantCause)
	}
	stored, err := p.st.Release(ctx, p.id.Name(), rel.Number)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Cause != wantCause || stored.Images["app"] != pin1 || stored.Activated.IsZero() {
		t.Errorf("stored release: cause %q, images %v, activated %v", stored.Cause, stored.Images, stored.Activated)
	}
	svc := rel.Model.Service("app")
	if svc.Environment["MODE"] != "prod" || svc.Image != pin1 || svc.Build != nil {
		t.Errorf("prod's release model runs %+v: want staging's image with prod's own environment", svc)
	}

	// Staging moves on; the next promotion replaces prod's image and says so.
	stg2, err := p.eng.Up(ctx, UpRequest{Model: p.stagingModel("2")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pin2 := stg2.Images["app"]
	p.keepTags(pin2)
	var ev2 events
	rel2, err := p.eng.Promote(ctx, PromoteRequest{Model: p.prodModel("3", rules), Source: p.staging.Name()}, ev2.emit)
	if err != nil {
		t.Fatalf("second promotion: %v", err)
	}
	if got := p.runningOf(p.id); got != pin2 || got != p.runningOf(p.staging) {
		t.Errorf("prod runs %s, staging %s: want both on %s", got, p.runningOf(p.staging), pin2)
	}
	var text2 string
	for _, e := range ev2.list {
		if e.Kind == EventPlan {
			text2 = e.Text
		}
	}
	wantLine := "  app: image sha256:" + shortID(pin1) + " → sha256:" + shortID(pin2) + "; config ~VERSION\n"
	if !strings.Contains(text2, wantLine) {
		t.Errorf("plan:\n%s\nwant the line %q", text2, wantLine)
	}

	// Rolling prod back returns it to the first promoted image, rebuilding nothing.
	var evr events
	back, err := p.eng.Rollback(ctx, p.id.Name(), rel.Number, evr.emit)
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if got := p.runningOf(p.id); got != pin1 || back.Images["app"] != pin1 || back.Number != rel2.Number+1 {
		t.Errorf("after rollback prod runs %s, release %d pins %v: want %s", got, back.Number, back.Images, pin1)
	}
	if b := builtOrPulled(evr.list); len(b) > 0 {
		t.Errorf("the rollback built or pulled: %v", b)
	}
}

// TestPromoteRefusals: each rule that does not hold refuses the promotion
// before anything changes, naming the rule and what to do.
func TestPromoteRefusals(t *testing.T) {
	p := newPromoteHarness(t)
	ctx := context.Background()
	for _, v := range []string{"1", "2"} {
		stg, err := p.eng.Up(ctx, UpRequest{Model: p.stagingModel(v)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		p.keepTags(stg.Images["app"])
	}
	if _, err := p.eng.Promote(ctx, PromoteRequest{Model: p.prodModel("1", nil), Source: p.staging.Name()}, nil); err != nil {
		t.Fatalf("promotion without rules: %v", err)
	}
	at := func(key string) map[string]stack.Position {
		return map[string]stack.Position{key: {File: "envs/prod.yaml", Line: 7, Column: 5}}
	}
	for _, tc := range []struct {
		name  string
		rules *stack.Promotion
		req   func(*PromoteRequest)
		want  []string
	}{
		{"from", &stack.Promotion{From: []string{"qa"}, Where: at("from")},
			nil, []string{"from (envs/prod.yaml:7:5) allows promotions to " + p.id.Name() + " only from qa, not from " + p.staging.Env, "add " + p.staging.Env + " to from"}},
		{"min_healthy", &stack.Promotion{From: []string{p.staging.Env}, MinHealthy: time.Hour, Where: at("min_healthy")},
			nil, []string{"min_healthy 1h0m0s (envs/prod.yaml:7:5): release 2 of " + p.staging.Name() + " has been active for", "retry in"}},
		{"min_healthy of an old release", &stack.Promotion{From: []string{p.staging.Env}, MinHealthy: time.Nanosecond},
			func(r *PromoteRequest) { r.Release = 1 }, []string{"release 1 of " + p.staging.Name() + " is superseded; promote its active release (leave out --release)"}},
		{"an old release without min_healthy", &stack.Promotion{From: []string{p.staging.Env}},
			func(r *PromoteRequest) { r.Release = 1 }, nil},
		{"backup_max_age", &stack.Promotion{From: []string{p.staging.Env}, BackupMaxAge: 24 * time.Hour, Where: at("backup_max_age")},
			nil, []string{"backup_max_age 24h0m0s (envs/prod.yaml:7:5)", "promotions cannot check backups yet", "remove backup_max_age"}},
		{"no such release", nil, func(r *PromoteRequest) { r.Release = 9 }, []string{"has no release 9"}},
		{"to itself", nil, func(r *PromoteRequest) { r.Model = p.stagingModel("1") }, []string{"cannot be promoted to itself"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := PromoteRequest{Model: p.prodModel("1", tc.rules), Source: p.staging.Name()}
			if tc.req != nil {
				tc.req(&req)
			}
			before, err := p.st.Releases(ctx, p.id.Name())
			if err != nil {
				t.Fatal(err)
			}
			var ev events
			_, err = p.eng.Promote(ctx, req, ev.emit)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("promote: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrRefused) && !errors.Is(err, ErrNoRelease) {
				t.Fatalf("promote: %v; want a refusal", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\nwant it to say %q", err, w)
				}
			}
			if len(ev.list) != 0 {
				t.Errorf("a refused promotion emitted %v: the caller answers the error itself", ev.list)
			}
			after, _ := p.st.Releases(ctx, p.id.Name())
			if len(after) != len(before) {
				t.Errorf("a refused promotion created a release: %d before, %d after", len(before), len(after))
			}
		})
	}
	// min_healthy is measured from the switch: with the source release
	// active well past the minimum (a clock an hour ahead), it passes.
	p.eng.now = func() time.Time { return time.Now().Add(time.Hour) }
	rules := &stack.Promotion{From: []string{p.staging.Env}, MinHealthy: 30 * time.Minute, RequireApproval: true}
	var ev events
	if _, err := p.eng.Promote(ctx, PromoteRequest{Model: p.prodModel("1", rules), Source: p.staging.Name()}, ev.emit); err != nil {
		t.Fatalf("min_healthy passed: %v", err)
	}
	var warned bool
	for _, e := range ev.list {
		warned = warned || e.Kind == EventWarning && strings.Contains(e.Message, "require_approval") && strings.Contains(e.Message, "not enforced yet")
	}
	if !warned {
		t.Errorf("require_approval was not reported as not enforced: %v", ev.list)
	}
	// A source that is not serving is not healthy, however long ago it switched.
	if err := p.eng.Down(ctx, p.staging.Name(), nil); err != nil {
		t.Fatal(err)
	}
	_, err := p.eng.Promote(ctx, PromoteRequest{Model: p.prodModel("1", rules), Source: p.staging.Name()}, nil)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "needs "+p.staging.Name()+" healthy, but it is stopped") {
		t.Errorf("promotion of a stopped source: %v; want a refusal saying it is stopped", err)
	}
}

// TestPromoteOneAtATime: while a promotion holds the target, a second one
// with NoWait is refused as busy, and one that waits says so and then
// finds the target already promoted.
func TestPromoteOneAtATime(t *testing.T) {
	p := newPromoteHarness(t)
	ctx := context.Background()
	stg, err := p.eng.Up(ctx, UpRequest{Model: p.stagingModel("1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.keepTags(stg.Images["app"])
	req := PromoteRequest{Model: p.prodModel("1", nil), Source: p.staging.Name()}

	// The first promotion stops at its plan event, the target locked.
	planned, resume := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, err := p.eng.Promote(ctx, req, func(e Event) {
			if e.Kind == EventPlan {
				close(planned)
				<-resume
			}
		})
		first <- err
	}()
	select {
	case <-planned:
	case err := <-first:
		t.Fatalf("the first promotion ended before its plan: %v", err)
	}

	busy := req
	busy.NoWait = true
	_, err = p.eng.Promote(ctx, busy, nil)
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "another operation is running") {
		t.Errorf("second promotion with NoWait: %v; want ErrBusy saying another operation runs", err)
	}

	waiting := make(chan struct{})
	second := make(chan Release, 1)
	secondErr := make(chan error, 1)
	var ev events
	go func() {
		rel, err := p.eng.Promote(ctx, req, func(e Event) {
			ev.emit(e)
			if e.Kind == EventWaiting {
				close(waiting)
			}
		})
		second <- rel
		secondErr <- err
	}()
	select {
	case <-waiting:
	case err := <-secondErr:
		t.Fatalf("the second promotion did not wait: %v", err)
	}
	close(resume)
	if err := <-first; err != nil {
		t.Fatalf("first promotion: %v", err)
	}
	rel := <-second
	if err := <-secondErr; err != nil {
		t.Fatalf("second promotion: %v", err)
	}
	if rel.Number != 1 {
		t.Errorf("the waiting promotion ended at release %d: want the first promotion's release 1, up to date", rel.Number)
	}
	if !strings.Contains(ev.list[0].Message, "waiting for the operation running on "+p.id.Name()) {
		t.Errorf("waiting event %+v", ev.list[0])
	}
	rels, err := p.st.Releases(ctx, p.id.Name())
	if err != nil || len(rels) != 1 {
		t.Errorf("target releases %d (%v): want exactly one", len(rels), err)
	}
}

// TestPromotionPins covers what may be promoted where: an image id only to
// the same runtime, a registry digest anywhere, a tag never.
func TestPromotionPins(t *testing.T) {
	id := "sha256:" + strings.Repeat("cd", 32)
	digest := "registry.example:5000/shop/api@" + id
	src := store.Instance{Name: "shop-staging", Identity: stack.Identity{Project: "shop", Env: "staging"}, Runtime: docker.Name}
	m := &stack.Model{Identity: stack.Identity{Project: "shop", Env: "prod"}, Services: []*stack.Service{
		{Name: "api", Build: &stack.Build{Context: "."}},
		{Name: "cache", Image: "redis:7"},
		{Name: "worker", Process: &stack.Process{Command: []string{"./worker"}}},
	}}
	for _, tc := range []struct {
		name    string
		images  map[string]string
		runtime string
		pins    map[string]string
		refused []string
	}{
		{"same runtime, ids", map[string]string{"api": id, "cache": id}, docker.Name, map[string]string{"api": id, "cache": id}, nil},
		{"other runtime, digests", map[string]string{"api": digest, "cache": digest}, "kubernetes", map[string]string{"api": digest, "cache": digest}, nil},
		{"other runtime, an id", map[string]string{"api": id, "cache": digest}, "kubernetes", map[string]string{"cache": digest},
			[]string{"service api: release 4 of shop-staging pins the image cdcdcdcdcdcd, an id that exists only on the docker runtime, and the target runs on kubernetes; set x-quai.registry"}},
		{"a tag", map[string]string{"api": id, "cache": "redis:7"}, docker.Name, map[string]string{"api": id},
			[]string{`service cache: release 4 of shop-staging records the image "redis:7", not a digest`}},
		{"not in the source", map[string]string{"api": id}, docker.Name, map[string]string{"api": id},
			[]string{"service cache is not in release 4 of shop-staging"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pins, refused := promotionPins(m, src, store.Release{Number: 4, Runtime: docker.Name, Images: tc.images}, tc.runtime)
			if len(pins) != len(tc.pins) {
				t.Errorf("pins %v, want %v", pins, tc.pins)
			}
			for k, v := range tc.pins {
				if pins[k] != v {
					t.Errorf("pin of %s = %q, want %q", k, pins[k], v)
				}
			}
			if len(refused) != len(tc.refused) {
				t.Fatalf("refused %q, want %q", refused, tc.refused)
			}
			for i, w := range tc.refused {
				if !strings.HasPrefix(refused[i], w) {
					t.Errorf("refusal %q, want it to start with %q", refused[i], w)
				}
			}
		})
	}
}
