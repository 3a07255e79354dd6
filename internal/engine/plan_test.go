package engine

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/goldentest"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// shopModel is a three-service stack: web (routed, 2 replicas) depends on
// api, which reaches db through its environment.
func shopModel() *stack.Model {
	return &stack.Model{
		Identity: stack.Identity{Org: "default", Project: "shop", Env: "dev"},
		Dir:      "/src/shop",
		Services: []*stack.Service{
			{Name: "api", Replicas: 1, Hash: "a1a1a1a1a1a1",
				Environment: map[string]string{"DATABASE_URL": "postgres://app:pw@db:5432/app"}},
			{Name: "db", Image: "postgres:16", Replicas: 1, Hash: "d1d1d1d1d1d1"},
			{Name: "web", Replicas: 2, Hash: "w1w1w1w1w1w1", HealthPath: "/healthz",
				DependsOn: []stack.Dependency{{Service: "api", Condition: stack.ConditionStarted}}},
		},
		Routes: []stack.Route{{Host: "shop.dev.localhost", Path: "/", Service: "web", Port: 8080, TLS: stack.TLSAuto}},
	}
}

// running is the observed state of shopModel fully deployed as release 1.
func running(m *stack.Model) observed {
	obs := observed{Instance: m.Identity.Name(), Active: 1, Next: 2, Declared: map[string]string{},
		Replicas: map[string][]observedReplica{}, Routes: routeLines(m, ""), Discovery: true}
	for _, s := range m.Services {
		obs.Declared[s.Name] = s.Hash
		for i := 1; i <= s.Replicas; i++ {
			obs.Replicas[s.Name] = append(obs.Replicas[s.Name], observedReplica{
				Name: s.Name + "-r1-" + string(rune('0'+i)), Release: 1, Hash: s.Hash, OK: true})
		}
	}
	obs.Model, _ = json.Marshal(m)
	return obs
}

func TestPlanGolden(t *testing.T) {
	tests := []struct {
		name   string
		obs    func() observed
		model  func() *stack.Model
		action map[string]Action
	}{
		{
			name:   "create",
			obs:    func() observed { return observed{Instance: "shop-dev", Next: 1, Discovery: true} },
			model:  shopModel,
			action: map[string]Action{"db": ActionCreate, "api": ActionCreate, "web": ActionCreate},
		},
		{
			name:   "keep",
			obs:    func() observed { return running(shopModel()) },
			model:  shopModel,
			action: map[string]Action{"db": ActionKeep, "api": ActionKeep, "web": ActionKeep},
		},
		{
			name: "replace",
			obs:  func() observed { return running(shopModel()) },
			model: func() *stack.Model {
				m := shopModel()
				m.Service("web").Hash = "w2w2w2w2w2w2"
				return m
			},
			action: map[string]Action{"db": ActionKeep, "api": ActionKeep, "web": ActionReplace},
		},
		{
			// deploy.update_config.order: stop-first on a routed service:
			// the plan says it is not a zero-downtime switchover.
			name: "replace-stop-first",
			obs:  func() observed { return running(shopModel()) },
			model: func() *stack.Model {
				m := shopModel()
				m.Service("web").Hash = "w2w2w2w2w2w2"
				m.Service("web").StopFirst = true
				return m
			},
			action: map[string]Action{"db": ActionKeep, "api": ActionKeep, "web": ActionReplace},
		},
		{
			// db's new replica listens elsewhere, so api (which uses its
			// address) and web (which uses api's) follow.
			name: "replace-cascades-to-dependents",
			obs:  func() observed { return running(shopModel()) },
			model: func() *stack.Model {
				m := shopModel()
				m.Service("db").Hash = "d2d2d2d2d2d2"
				m.Service("web").DependsOn = nil
				m.Service("web").Environment = map[string]string{"API": "http://api:9000"}
				return m
			},
			action: map[string]Action{"db": ActionReplace, "api": ActionReplace, "web": ActionReplace},
		},
		{
			name: "scale",
			obs:  func() observed { return running(shopModel()) },
			model: func() *stack.Model {
				m := shopModel()
				m.Service("web").Replicas = 4
				m.Service("api").Replicas = 0
				return m
			},
			action: map[string]Action{"db": ActionKeep, "api": ActionScale, "web": ActionScale},
		},
		{
			name: "remove",
			obs: func() observed {
				obs := running(shopModel())
				obs.Replicas["worker"] = []observedReplica{{Name: "worker-r1-1", Release: 1, Hash: "k1k1k1k1k1k1", OK: true}}
				obs.Declared["worker"] = "k1k1k1k1k1k1"
				return obs
			},
			model:  shopModel,
			action: map[string]Action{"db": ActionKeep, "api": ActionKeep, "web": ActionKeep, "worker": ActionRemove},
		},
		{
			name: "recreate",
			obs: func() observed {
				obs := running(shopModel())
				obs.Replicas["web"][1].OK = false
				return obs
			},
			model:  shopModel,
			action: map[string]Action{"db": ActionKeep, "api": ActionKeep, "web": ActionRecreate},
		},
		{
			// After `down` nothing runs: every service of the same
			// release starts again.
			name: "recreate-after-down",
			obs: func() observed {
				obs := running(shopModel())
				obs.Replicas = map[string][]observedReplica{}
				obs.Stopped = true
				return obs
			},
			model:  shopModel,
			action: map[string]Action{"db": ActionRecreate, "api": ActionRecreate, "web": ActionRecreate},
		},
		{
			// After `down`, a changed stack is a new release.
			name: "changed-after-down",
			obs: func() observed {
				obs := running(shopModel())
				obs.Replicas = map[string][]observedReplica{}
				obs.Stopped = true
				return obs
			},
			model: func() *stack.Model {
				m := shopModel()
				m.Routes[0].Host = ""
				return m
			},
			action: map[string]Action{"db": ActionRecreate, "api": ActionRecreate, "web": ActionRecreate},
		},
		{
			name: "routes-only",
			obs:  func() observed { return running(shopModel()) },
			model: func() *stack.Model {
				m := shopModel()
				m.Routes[0].Host = ""
				return m
			},
			action: map[string]Action{"db": ActionKeep, "api": ActionKeep, "web": ActionKeep},
		},
		{
			// What the process runtime says of the example's settings: the
			// plan lists it, and nothing is refused.
			name: "runtime-findings",
			obs: func() observed {
				return observed{Instance: "shop-dev", Next: 1, Discovery: true, Runtime: "process", Findings: []runtime.Finding{
					{Service: "api", Setting: "cap_drop", Verdict: runtime.VerdictIgnore, Message: "the service runs as root, with every capability: set user: to a non-root user, which holds none"},
					{Service: "api", Setting: "read_only", Verdict: runtime.VerdictIgnore, Message: "there is no read-only root file system without a container: the service may write wherever its user may"},
					{Service: "db", Setting: "image", Verdict: runtime.VerdictChange, Message: "image postgres:16 is not run: the host's PostgreSQL 15.18 is (/usr/lib/postgresql/15/bin/postgres), not 16: data files may not move between the two; install PostgreSQL 16 or deploy with --runtime docker"},
					{Service: "web", Setting: "deploy.resources.limits", Verdict: runtime.VerdictIgnore, Message: "limits (cpus 0.5, memory 256Mi) are not enforced: no cgroup v2 file system is mounted (this host runs cgroup v1 only)"},
					{Service: "web", Setting: "ports", Verdict: runtime.VerdictChange, Message: "port 8080:80 is not published: each replica listens on 127.0.0.1:$PORT (a free port quai chooses); reach it through an x-quai route or quai exec"},
				}}
			},
			model:  shopModel,
			action: map[string]Action{"db": ActionCreate, "api": ActionCreate, "web": ActionCreate},
		},
		{
			// An image-only service on the process runtime: the plan says
			// so and is refused.
			name: "runtime-refuses",
			obs: func() observed {
				return observed{Instance: "shop-dev", Next: 1, Discovery: true, Runtime: "process", Findings: []runtime.Finding{
					{Service: "api", Setting: "x-quai.process.command", Verdict: runtime.VerdictRefuse, Message: "the process runtime runs no images, so it cannot run its build without x-quai.process.command"},
					{Service: "db", Setting: "image", Verdict: runtime.VerdictChange, Message: "image postgres:16 is not run: the host's PostgreSQL 16.4 is (/usr/lib/postgresql/16/bin/postgres)"},
				}}
			},
			model:  shopModel,
			action: map[string]Action{"db": ActionCreate, "api": ActionCreate, "web": ActionCreate},
		},
		{
			// Another org's instance of the project serves the same host.
			name: "route-conflict",
			obs: func() observed {
				return observed{Instance: "acme/shop-dev", Next: 1, Discovery: true, Runtime: "process",
					Taken: map[string]string{"shop.dev.localhost/": "shop-dev", "other.localhost/": "blog-dev"}}
			},
			model: func() *stack.Model {
				m := shopModel()
				m.Identity.Org = "acme"
				return m
			},
			action: map[string]Action{"db": ActionCreate, "api": ActionCreate, "web": ActionCreate},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.model()
			mj, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			p, err := makePlan(tt.obs(), m, mj, "{project}.{env}.example.test")
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]Action{}
			for _, s := range p.Services {
				got[s.Service] = s.Action
			}
			for svc, want := range tt.action {
				if got[svc] != want {
					t.Errorf("service %s: action %s, want %s", svc, got[svc], want)
				}
			}
			if len(got) != len(tt.action) {
				t.Errorf("planned services %v, want %v", got, tt.action)
			}
			// Planning is pure: the same inputs give the same text.
			again, _ := makePlan(tt.obs(), m, mj, "{project}.{env}.example.test")
			if again.Text != p.Text {
				t.Errorf("plan text is not stable:\n%s\n---\n%s", p.Text, again.Text)
			}
			goldentest.Check(t, filepath.Join("testdata", "plan", tt.name+".golden"), []byte(p.Text))
		})
	}
}

func TestPlanEmptyOnlyWhenNothingChanges(t *testing.T) {
	m := shopModel()
	mj, _ := json.Marshal(m)
	p, err := makePlan(running(m), m, mj, "")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() || p.Release != 1 {
		t.Fatalf("unchanged model: Empty() = %v, release %d; want an empty plan at release 1", p.Empty(), p.Release)
	}
	m2 := shopModel()
	m2.Services[1].Backup = &stack.BackupPolicy{Kind: stack.BackupPostgres, Schedule: "@daily"}
	mj2, _ := json.Marshal(m2)
	p, _ = makePlan(running(m), m2, mj2, "")
	if p.Empty() || p.Release != 2 || !p.ModelChanged {
		t.Fatalf("changed backup policy: Empty() = %v, release %d; want a new release that keeps every replica", p.Empty(), p.Release)
	}
}

func TestPlanWithoutDiscoveryDoesNotCascade(t *testing.T) {
	m := shopModel()
	obs := running(m)
	obs.Discovery = false
	m.Service("db").Hash = "d2d2d2d2d2d2"
	mj, _ := json.Marshal(m)
	p, err := makePlan(obs, m, mj, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Services {
		if s.Service != "db" && s.Action != ActionKeep {
			t.Errorf("service %s: %s; with network DNS a dependency's replacement must not touch it", s.Service, s.Action)
		}
	}
}

func TestStartOrder(t *testing.T) {
	m := shopModel()
	order, err := startOrder(m, true)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range order {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "db,api,web" {
		t.Errorf("start order with environment references = %s, want db,api,web", got)
	}
	order, _ = startOrder(m, false)
	names = names[:0]
	for _, s := range order {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "api,db,web" {
		t.Errorf("start order by depends_on only = %s, want api,db,web", got)
	}
	// A reference cycle through the environment is not a dependency cycle.
	m.Service("db").Environment = map[string]string{"PEER": "api:80"}
	if _, err := startOrder(m, true); err != nil {
		t.Errorf("environment cycle: %v", err)
	}
	m.Service("api").DependsOn = []stack.Dependency{{Service: "web", Condition: stack.ConditionStarted}}
	if _, err := startOrder(m, true); !errors.Is(err, ErrInvalid) {
		t.Errorf("depends_on cycle: err = %v, want ErrInvalid", err)
	}
}

func TestDiscoveryEnv(t *testing.T) {
	svc := &stack.Service{Name: "api", Environment: map[string]string{
		"DATABASE_URL": "postgres://app:pw@db:5432/app",
		"CACHE":        "redis:6379",
		"OTHER":        "10.0.0.1:80,db-replica:5432",
		"DB_HOST":      "set-by-user",
	}, Process: &stack.Process{Env: map[string]string{"CACHE": "redis://cache-svc:6379/0"}}}
	addrs := map[string]string{"db": "127.0.0.1:40001", "cache-svc": "127.0.0.1:40002"}
	got := discoveryEnv(svc, addrs)
	want := map[string]string{
		"DATABASE_URL":   "postgres://app:pw@127.0.0.1:40001/app",
		"CACHE":          "redis://127.0.0.1:40002/0",
		"DB_PORT":        "40001",
		"CACHE_SVC_HOST": "127.0.0.1",
		"CACHE_SVC_PORT": "40002",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, k := range []string{"DB_HOST", "OTHER"} {
		if v, ok := got[k]; ok {
			t.Errorf("%s = %q; the user's own value must stay untouched", k, v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("discovery env = %v, want exactly %v", got, want)
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"shop-dev", "shop-prod", "blog-dev", "acme/shop-dev"}
	got := suggest("shop-dv", known)
	if len(got) == 0 || got[0] != "shop-dev" {
		t.Errorf("suggest(shop-dv) = %v, want shop-dev first", got)
	}
	if got := suggest("zzzzzzzz", known); len(got) != 0 {
		t.Errorf("suggest(zzzzzzzz) = %v, want nothing", got)
	}
	// A service named both by the active release and by its replicas is
	// suggested once.
	if got := suggest("wbe", []string{"web", "database", "web"}); !slices.Equal(got, []string{"web"}) {
		t.Errorf("suggest(wbe) among duplicates = %v, want [web]", got)
	}
}

// TestPlanRefusal: a plan with a runtime's refusal or a route conflict is
// refused with an error naming the service or the two instances the right
// way round; the same plan without them is not.
func TestPlanRefusal(t *testing.T) {
	m := shopModel()
	mj, _ := json.Marshal(m)
	obs := observed{Instance: "shop-dev", Next: 1, Runtime: "process", Findings: []runtime.Finding{
		{Service: "api", Setting: "x-quai.process.command", Verdict: runtime.VerdictRefuse, Message: "needs a command"}}}
	p, err := makePlan(obs, m, mj, "")
	if err != nil {
		t.Fatal(err)
	}
	err = refusal(p)
	if !errors.Is(err, runtime.ErrUnsupported) || !strings.Contains(err.Error(), "service api: needs a command") {
		t.Errorf("refusal = %v, want ErrUnsupported naming service api", err)
	}
	obs.Findings[0].Missing = true
	p, _ = makePlan(obs, m, mj, "")
	if err := refusal(p); !errors.Is(err, runtime.ErrMissingDependency) {
		t.Errorf("refusal for a missing binary = %v, want ErrMissingDependency", err)
	}
	obs.Findings[0].Verdict = runtime.VerdictIgnore
	p, _ = makePlan(obs, m, mj, "")
	if err := refusal(p); err != nil {
		t.Errorf("a plan that only ignores settings is refused: %v", err)
	}

	m.Identity.Org = "acme"
	obs = observed{Instance: m.Identity.Name(), Next: 1, Taken: map[string]string{"shop.dev.localhost/": "shop-dev"}}
	p, _ = makePlan(obs, m, mj, "")
	err = refusal(p)
	if !errors.Is(err, ErrRouteConflict) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("route conflict: %v, want ErrRouteConflict", err)
	}
	if want := "acme/shop-dev: route conflict"; !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "shop.dev.localhost/ is already served by instance shop-dev") {
		t.Errorf("route conflict error %q: want it to start with %q and name shop-dev as the instance serving the route", err, want)
	}
	// The instance's own routes are not a conflict.
	obs.Taken = map[string]string{"shop.dev.localhost/": "acme/shop-dev"}
	if p, _ = makePlan(obs, m, mj, ""); refusal(p) != nil {
		t.Errorf("the instance's own route counted as a conflict: %v", refusal(p))
	}
}
