package lint

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/stack"
)

// clean returns a service that no rule reports in any environment: pinned
// image, non-root user, limits, restart policy, read-only root filesystem,
// two replicas and an HTTP health path.
func clean(name string) *stack.Service {
	return &stack.Service{
		Name:       name,
		Image:      "example/" + name + ":1.0",
		User:       "1000:1000",
		Resources:  stack.Resources{MilliCPU: 500, MemoryBytes: 512 << 20},
		Size:       "small",
		Restart:    "unless-stopped",
		ReadOnly:   true,
		Replicas:   2,
		HealthPath: "/healthz",
	}
}

// cleanDB returns a PostgreSQL service that no rule reports.
func cleanDB(name string) *stack.Service {
	s := clean(name)
	s.Image = "postgres:16.4"
	s.User = ""
	s.ReadOnly = false
	s.Replicas = 1
	s.HealthPath = ""
	s.Mounts = []stack.Mount{{Type: stack.MountVolume, Source: "pgdata", Target: "/var/lib/postgresql/data"}}
	s.Healthcheck = &stack.Healthcheck{Test: []string{"CMD-SHELL", "pg_isready"}}
	s.Backup = &stack.BackupPolicy{Kind: stack.BackupPostgres, Schedule: "@daily", Retention: stack.Retention{KeepDaily: 7}}
	return s
}

// newModel builds a model for env holding the services; web, when present,
// gets a TLS route. Every service and key path that tests refer to has a
// position, one line per key.
func newModel(env string, svcs ...*stack.Service) *stack.Model {
	m := &stack.Model{
		Identity: stack.Identity{Org: stack.DefaultOrg, Project: "shop", Env: env},
		Dir:      "/srv/shop",
		Files:    []string{"compose.yaml"},
		Services: svcs,
	}
	for i, s := range svcs {
		m.SetPos("services."+s.Name, stack.Position{File: "compose.yaml", Line: 10 * (i + 1), Column: 3})
		if s.Name == "web" {
			m.Routes = append(m.Routes, stack.Route{Host: "shop.example.com", Path: "/", Service: "web", Port: 8080, TLS: stack.TLSAuto,
				Pos: stack.Position{File: "compose.yaml", Line: 2, Column: 7}})
		}
	}
	return m
}

// with applies edits to a clean service.
func with(s *stack.Service, edits ...func(*stack.Service)) *stack.Service {
	for _, e := range edits {
		e(s)
	}
	return s
}

type ruleCase struct {
	name string
	// model builds the stack; it runs once per case.
	model func() *stack.Model
	// want lists the services the rule must report, in order; empty means
	// the rule must report nothing.
	want []string
	// runtime is what the process runtime said of the stack (lint --runtime).
	runtime []RuntimeNote
}

// ruleCases holds, for every non-meta rule, at least one case the rule
// reports and one it does not (TestRuleCasesCoverEveryRule enforces it).
var ruleCases = map[string][]ruleCase{
	"QL001": {
		{name: "privileged", model: func() *stack.Model {
			return newModel("prod", with(clean("web"), func(s *stack.Service) { s.Privileged = true }))
		}, want: []string{"web"}},
		{name: "not privileged", model: func() *stack.Model { return newModel("prod", clean("web")) }},
	},
	"QL002": {
		{name: "host network", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) { s.NetworkMode = "host" }))
		}, want: []string{"web"}},
		{name: "service network", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) { s.NetworkMode = "service:db" }))
		}},
	},
	"QL003": {
		{name: "host pid", model: func() *stack.Model {
			return newModel("prod", with(clean("api"), func(s *stack.Service) { s.Pid = "host" }))
		}, want: []string{"api"}},
		{name: "own pid", model: func() *stack.Model { return newModel("prod", clean("api")) }},
	},
	"QL004": {
		{name: "host ipc", model: func() *stack.Model {
			return newModel("prod", with(clean("api"), func(s *stack.Service) { s.Ipc = "host" }))
		}, want: []string{"api"}},
		{name: "shareable ipc", model: func() *stack.Model {
			return newModel("prod", with(clean("api"), func(s *stack.Service) { s.Ipc = "shareable" }))
		}},
	},
	"QL005": {
		{name: "docker socket writable", model: func() *stack.Model {
			return newModel("dev", with(clean("ci"), func(s *stack.Service) {
				s.Mounts = []stack.Mount{{Type: stack.MountBind, Source: "/var/run/docker.sock", Target: "/var/run/docker.sock"}}
			}))
		}, want: []string{"ci"}},
		{name: "podman socket writable", model: func() *stack.Model {
			return newModel("dev", with(clean("ci"), func(s *stack.Service) {
				s.Mounts = []stack.Mount{{Type: stack.MountBind, Source: "/run/podman/podman.sock", Target: "/run/docker.sock"}}
			}))
		}, want: []string{"ci"}},
		{name: "docker socket read-only is QL006", model: func() *stack.Model {
			return newModel("dev", with(clean("ci"), func(s *stack.Service) {
				s.Mounts = []stack.Mount{{Type: stack.MountBind, Source: "/var/run/docker.sock", Target: "/var/run/docker.sock", ReadOnly: true}}
			}))
		}},
		{name: "volume named docker.sock is not a bind", model: func() *stack.Model {
			return newModel("dev", with(clean("ci"), func(s *stack.Service) {
				s.Mounts = []stack.Mount{{Type: stack.MountVolume, Source: "docker.sock", Target: "/data"}}
			}))
		}},
	},
	"QL006": {
		{name: "docker socket read-only", model: func() *stack.Model {
			return newModel("dev", with(clean("ci"), func(s *stack.Service) {
				s.Mounts = []stack.Mount{{Type: stack.MountBind, Source: "/run/docker.sock", Target: "/var/run/docker.sock", ReadOnly: true}}
			}))
		}, want: []string{"ci"}},
		{name: "docker socket writable is QL005", model: func() *stack.Model {
			return newModel("dev", with(clean("ci"), func(s *stack.Service) {
				s.Mounts = []stack.Mount{{Type: stack.MountBind, Source: "/run/docker.sock", Target: "/var/run/docker.sock"}}
			}))
		}},
	},
	"QL007": {
		{name: "host etc", model: func() *stack.Model {
			return newModel("dev", with(clean("agent"), func(s *stack.Service) {
				s.Mounts = []stack.Mount{{Type: stack.MountBind, Source: "/etc", Target: "/host/etc", ReadOnly: true}}
			}))
		}, want: []string{"agent"}},
		{name: "host proc subtree", model: func() *stack.Model {
			return newModel("dev", with(clean("agent"), func(s *stack.Service) {
				s.Mounts = []stack.Mount{{Type: stack.MountBind, Source: "/proc/1", Target: "/host/init"}}
			}))
		}, want: []string{"agent"}},
		{name: "host localtime", model: func() *stack.Model {
			return newModel("dev", with(clean("agent"), func(s *stack.Service) {
				s.Mounts = []stack.Mount{{Type: stack.MountBind, Source: "/etc/localtime", Target: "/etc/localtime", ReadOnly: true}}
			}))
		}},
		{name: "procfs lookalike", model: func() *stack.Model {
			return newModel("dev", with(clean("agent"), func(s *stack.Service) {
				s.Mounts = []stack.Mount{{Type: stack.MountBind, Source: "/srv/shop/procedures", Target: "/data"}}
			}))
		}},
	},
	"QL008": {
		{name: "sys admin", model: func() *stack.Model {
			return newModel("prod", with(clean("vpn"), func(s *stack.Service) { s.CapAdd = []string{"CHOWN", "CAP_SYS_ADMIN"} }))
		}, want: []string{"vpn"}},
		{name: "harmless capability", model: func() *stack.Model {
			return newModel("prod", with(clean("vpn"), func(s *stack.Service) { s.CapAdd = []string{"NET_BIND_SERVICE"} }))
		}},
	},
	"QL009": {
		{name: "bind service", model: func() *stack.Model {
			return newModel("prod", with(clean("web"), func(s *stack.Service) { s.CapAdd = []string{"NET_BIND_SERVICE", "chown"} }))
		}, want: []string{"web", "web"}},
		{name: "dangerous capability is QL008", model: func() *stack.Model {
			return newModel("prod", with(clean("web"), func(s *stack.Service) { s.CapAdd = []string{"ALL"} }))
		}},
		{name: "cap drop only", model: func() *stack.Model {
			return newModel("prod", with(clean("web"), func(s *stack.Service) { s.CapDrop = []string{"ALL"} }))
		}},
	},
	"QL010": {
		{name: "no tag", model: func() *stack.Model {
			return newModel("dev", with(clean("cache"), func(s *stack.Service) { s.Image = "redis" }))
		}, want: []string{"cache"}},
		{name: "latest", model: func() *stack.Model {
			return newModel("dev", with(clean("cache"), func(s *stack.Service) { s.Image = "docker.io/library/redis:latest" }))
		}, want: []string{"cache"}},
		{name: "registry port without tag", model: func() *stack.Model {
			return newModel("dev", with(clean("cache"), func(s *stack.Service) { s.Image = "localhost:5000/team/redis" }))
		}, want: []string{"cache"}},
		{name: "registry port with tag", model: func() *stack.Model {
			return newModel("dev", with(clean("cache"), func(s *stack.Service) { s.Image = "localhost:5000/team/redis:7.4" }))
		}},
		{name: "digest", model: func() *stack.Model {
			return newModel("dev", with(clean("cache"), func(s *stack.Service) {
				s.Image = "redis@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
			}))
		}},
		{name: "built image", model: func() *stack.Model {
			return newModel("dev", with(clean("cache"), func(s *stack.Service) {
				s.Image = "shop-cache"
				s.Build = &stack.Build{Context: "./cache"}
			}))
		}},
	},
	"QL011": {
		{name: "literal password", model: func() *stack.Model {
			return newModel("staging", with(cleanDB("db"), func(s *stack.Service) {
				s.Environment = map[string]string{"POSTGRES_PASSWORD": "hunter2", "POSTGRES_USER": "shop"}
			}))
		}, want: []string{"db"}},
		{name: "literal api key and token", model: func() *stack.Model {
			return newModel("prod", with(clean("web"), func(s *stack.Service) {
				s.Environment = map[string]string{"STRIPE_API_KEY": "sk_live_x", "GITHUB_TOKEN": "ghp_x", "DEBUG": "0"}
			}))
		}, want: []string{"web", "web"}},
		{name: "not in dev", model: func() *stack.Model {
			return newModel("dev", with(cleanDB("db"), func(s *stack.Service) {
				s.Environment = map[string]string{"POSTGRES_PASSWORD": "hunter2"}
			}))
		}},
		{name: "file and path names", model: func() *stack.Model {
			return newModel("prod", with(clean("web"), func(s *stack.Service) {
				s.Environment = map[string]string{"DJANGO_SECRET_KEY_FILE": "/run/secrets/key", "TOKEN_TTL": "3600", "SECRET": "/run/secrets/x", "API_KEY": ""}
			}))
		}},
	},
	"QL012": {
		{name: "no user", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) { s.User = "" }))
		}, want: []string{"web"}},
		{name: "built without user", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) { s.User = ""; s.Build = &stack.Build{Context: "."} }))
		}, want: []string{"web"}},
		{name: "explicit root", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) { s.User = "0:0" }))
		}, want: []string{"web"}},
		{name: "named user", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) { s.User = "www-data" }))
		}},
		{name: "database image drops privileges", model: func() *stack.Model { return newModel("dev", cleanDB("db")) }},
	},
	"QL013": {
		{name: "literal password in url", model: func() *stack.Model {
			return newModel("prod", with(clean("web"), func(s *stack.Service) {
				s.Environment = map[string]string{"DATABASE_URL": "postgres://shop:hunter2@db:5432/shop"}
			}))
		}, want: []string{"web"}},
		{name: "url without password", model: func() *stack.Model {
			return newModel("prod", with(clean("web"), func(s *stack.Service) {
				s.Environment = map[string]string{"DATABASE_URL": "postgres://shop@db:5432/shop", "CACHE_URL": "redis://cache:6379/0"}
			}))
		}},
	},
	"QL014": {
		{name: "postgres published", model: func() *stack.Model {
			return newModel("dev", with(cleanDB("db"), func(s *stack.Service) {
				s.Ports = []stack.Port{{Target: 5432, Published: "5432"}}
			}))
		}, want: []string{"db"}},
		{name: "database port on other image", model: func() *stack.Model {
			return newModel("dev", with(clean("proxy"), func(s *stack.Service) {
				s.Ports = []stack.Port{{Target: 6379}}
			}))
		}, want: []string{"proxy"}},
		{name: "loopback", model: func() *stack.Model {
			return newModel("dev", with(cleanDB("db"), func(s *stack.Service) {
				s.Ports = []stack.Port{{Target: 5432, Published: "15432", HostIP: "127.0.0.1"}}
			}))
		}},
		{name: "web port", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) { s.Ports = []stack.Port{{Target: 8080}} }))
		}},
	},
	"QL015": {
		{name: "fixed port", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) {
				s.Ports = []stack.Port{{Target: 8080, Published: "8080"}, {Target: 9090}}
			}))
		}, want: []string{"web"}},
		{name: "ephemeral port", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) {
				s.Ports = []stack.Port{{Target: 8080}, {Target: 9090, Published: "0"}}
			}))
		}},
	},
	"QL037": {
		{name: "basic auth over plain HTTP", model: func() *stack.Model {
			m := newModel("dev", clean("web"))
			m.Routes[0].TLS = stack.TLSOff
			m.Routes[0].Rules = &stack.RouteRules{BasicAuth: &stack.RouteBasicAuth{UsersSecret: "u"}}
			return m
		}, want: []string{"web"}},
		{name: "forward auth over plain HTTP", model: func() *stack.Model {
			m := newModel("prod", clean("web"))
			m.Routes[0].TLS = stack.TLSOff
			m.Routes[0].Rules = &stack.RouteRules{ForwardAuth: &stack.RouteForwardAuth{URL: "http://auth"}}
			return m
		}, want: []string{"web"}},
		{name: "basic auth over TLS", model: func() *stack.Model {
			m := newModel("dev", clean("web"))
			m.Routes[0].Rules = &stack.RouteRules{BasicAuth: &stack.RouteBasicAuth{UsersSecret: "u"}}
			return m
		}},
		{name: "other rules over plain HTTP", model: func() *stack.Model {
			m := newModel("dev", clean("web"))
			m.Routes[0].TLS = stack.TLSOff
			m.Routes[0].Rules = &stack.RouteRules{Allow: []string{"10.0.0.0/8"}}
			return m
		}},
	},
	"QL016": {
		{name: "tls off in prod", model: func() *stack.Model {
			m := newModel("prod", clean("web"))
			m.Routes[0].TLS = stack.TLSOff
			return m
		}, want: []string{"web"}},
		{name: "tls off in staging", model: func() *stack.Model {
			m := newModel("staging", clean("web"))
			m.Routes[0].TLS = stack.TLSOff
			return m
		}},
		{name: "tls custom in prod", model: func() *stack.Model {
			m := newModel("prod", clean("web"))
			m.Routes[0].TLS = stack.TLSCustom
			return m
		}},
	},
	"QL017": {
		{name: "host path in prod", model: func() *stack.Model {
			return newModel("prod", with(clean("web"), func(s *stack.Service) {
				s.Mounts = []stack.Mount{{Type: stack.MountBind, Source: "/srv/uploads", Target: "/app/uploads"}}
			}))
		}, want: []string{"web"}},
		{name: "sibling with shared prefix", model: func() *stack.Model {
			return newModel("prod", with(clean("web"), func(s *stack.Service) {
				s.Mounts = []stack.Mount{{Type: stack.MountBind, Source: "/srv/shop-data", Target: "/data", ReadOnly: true}}
			}))
		}, want: []string{"web"}},
		{name: "inside project", model: func() *stack.Model {
			return newModel("prod", with(clean("web"), func(s *stack.Service) {
				s.Mounts = []stack.Mount{{Type: stack.MountBind, Source: "/srv/shop/conf/nginx.conf", Target: "/etc/nginx/nginx.conf", ReadOnly: true}}
			}))
		}},
		{name: "outside project in dev", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) {
				s.Mounts = []stack.Mount{{Type: stack.MountBind, Source: "/home/me/src", Target: "/app"}}
			}))
		}},
	},
	"QL018": {
		{name: "no limits", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) { s.Resources = stack.Resources{}; s.Size = "" }))
		}, want: []string{"web"}},
		{name: "memory only", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) { s.Resources.MilliCPU = 0 }))
		}, want: []string{"web"}},
		{name: "size class", model: func() *stack.Model { return newModel("dev", clean("web")) }},
	},
	"QL019": {
		{name: "routed without any check", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) { s.HealthPath = "" }))
		}, want: []string{"web"}},
		{name: "routed with disabled healthcheck", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) {
				s.HealthPath = ""
				s.Healthcheck = &stack.Healthcheck{Test: []string{"NONE"}}
			}))
		}, want: []string{"web"}},
		{name: "routed with healthcheck", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) {
				s.HealthPath = ""
				s.Healthcheck = &stack.Healthcheck{Test: []string{"CMD", "curl", "-f", "http://localhost/"}}
			}))
		}},
		{name: "not routed", model: func() *stack.Model {
			return newModel("dev", with(clean("worker"), func(s *stack.Service) { s.HealthPath = "" }))
		}},
	},
	"QL020": {
		{name: "disabled", model: func() *stack.Model {
			return newModel("dev", with(clean("worker"), func(s *stack.Service) {
				s.Healthcheck = &stack.Healthcheck{Disable: true}
			}))
		}, want: []string{"worker"}},
		{name: "routed without path is QL019", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) {
				s.HealthPath = ""
				s.Healthcheck = &stack.Healthcheck{Disable: true}
			}))
		}},
		{name: "enabled", model: func() *stack.Model {
			return newModel("dev", with(clean("worker"), func(s *stack.Service) {
				s.Healthcheck = &stack.Healthcheck{Test: []string{"CMD", "true"}}
			}))
		}},
	},
	"QL021": {
		{name: "database without backup", model: func() *stack.Model {
			return newModel("staging", with(cleanDB("db"), func(s *stack.Service) { s.Backup = nil; s.Mounts = nil }))
		}, want: []string{"db"}},
		{name: "volume without backup", model: func() *stack.Model {
			return newModel("prod", with(clean("files"), func(s *stack.Service) {
				s.Mounts = []stack.Mount{{Type: stack.MountVolume, Source: "uploads", Target: "/data"}}
				s.Replicas = 1
			}))
		}, want: []string{"files"}},
		{name: "volume covered by another service's backup", model: func() *stack.Model {
			vol := []stack.Mount{{Type: stack.MountVolume, Source: "data", Target: "/data"}}
			return newModel("prod",
				with(clean("app"), func(s *stack.Service) {
					s.Mounts = vol
					s.Backup = &stack.BackupPolicy{Kind: stack.BackupVolume, Schedule: "@daily", Retention: stack.Retention{KeepLast: 3}}
				}),
				with(clean("cron"), func(s *stack.Service) { s.Mounts = vol }))
		}},
		{name: "redis cache without volume", model: func() *stack.Model {
			return newModel("prod", with(cleanDB("cache"), func(s *stack.Service) { s.Image = "redis:7.4"; s.Backup = nil; s.Mounts = nil }))
		}},
		{name: "redis with volume", model: func() *stack.Model {
			return newModel("prod", with(cleanDB("cache"), func(s *stack.Service) { s.Image = "redis:7.4"; s.Backup = nil }))
		}, want: []string{"cache"}},
		{name: "read-only volume", model: func() *stack.Model {
			return newModel("prod", with(clean("static"), func(s *stack.Service) {
				s.Mounts = []stack.Mount{{Type: stack.MountVolume, Source: "assets", Target: "/srv", ReadOnly: true}}
			}))
		}},
		{name: "dev", model: func() *stack.Model {
			return newModel("dev", with(cleanDB("db"), func(s *stack.Service) { s.Backup = nil }))
		}},
	},
	"QL022": {
		{name: "single routed replica", model: func() *stack.Model {
			return newModel("prod", with(clean("web"), func(s *stack.Service) { s.Replicas = 1 }))
		}, want: []string{"web"}},
		{name: "single replica in staging", model: func() *stack.Model {
			return newModel("staging", with(clean("web"), func(s *stack.Service) { s.Replicas = 1 }))
		}},
		{name: "single unrouted replica", model: func() *stack.Model {
			return newModel("prod", with(clean("worker"), func(s *stack.Service) { s.Replicas = 1 }))
		}},
	},
	"QL023": {
		{name: "no restart", model: func() *stack.Model {
			return newModel("prod", with(clean("web"), func(s *stack.Service) { s.Restart = "" }))
		}, want: []string{"web"}},
		{name: "restart no", model: func() *stack.Model {
			return newModel("staging", with(clean("web"), func(s *stack.Service) { s.Restart = "no" }))
		}, want: []string{"web"}},
		{name: "on-failure", model: func() *stack.Model {
			return newModel("prod", with(clean("web"), func(s *stack.Service) { s.Restart = "on-failure" }))
		}},
		{name: "dev", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) { s.Restart = "" }))
		}},
	},
	"QL024": {
		{name: "container name", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) { s.ContainerName = "shop-web" }))
		}, want: []string{"web"}},
		{name: "no container name", model: func() *stack.Model { return newModel("dev", clean("web")) }},
	},
	"QL025": {
		{name: "started condition on db", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) {
				s.DependsOn = []stack.Dependency{{Service: "db", Condition: stack.ConditionStarted}}
			}), cleanDB("db"))
		}, want: []string{"web"}},
		{name: "healthy condition on db", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) {
				s.DependsOn = []stack.Dependency{{Service: "db", Condition: stack.ConditionHealthy}}
			}), cleanDB("db"))
		}},
		{name: "started condition on app", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) {
				s.DependsOn = []stack.Dependency{{Service: "api", Condition: stack.ConditionStarted}}
			}), clean("api"))
		}},
	},
	"QL026": {
		{name: "two postgres replicas", model: func() *stack.Model {
			return newModel("dev", with(cleanDB("db"), func(s *stack.Service) { s.Replicas = 2 }))
		}, want: []string{"db"}},
		{name: "one postgres replica", model: func() *stack.Model { return newModel("dev", cleanDB("db")) }},
		{name: "replicated app with volume", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) {
				s.Mounts = []stack.Mount{{Type: stack.MountVolume, Source: "media", Target: "/media"}}
			}))
		}},
	},
	"QL027": {
		{name: "no retention", model: func() *stack.Model {
			return newModel("dev", with(cleanDB("db"), func(s *stack.Service) { s.Backup.Retention = stack.Retention{} }))
		}, want: []string{"db"}},
		{name: "retention", model: func() *stack.Model { return newModel("dev", cleanDB("db")) }},
	},
	"QL028": {
		{name: "postgres backup of redis", model: func() *stack.Model {
			return newModel("dev", with(cleanDB("cache"), func(s *stack.Service) { s.Image = "redis:7.4" }))
		}, want: []string{"cache"}},
		{name: "mysql backup of an app", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) {
				s.Backup = &stack.BackupPolicy{Kind: stack.BackupMySQL, Schedule: "@daily", Retention: stack.Retention{KeepLast: 3}}
			}))
		}, want: []string{"web"}},
		{name: "mysql backup of mariadb", model: func() *stack.Model {
			return newModel("dev", with(cleanDB("db"), func(s *stack.Service) {
				s.Image = "mariadb:11.4"
				s.Backup.Kind = stack.BackupMySQL
			}))
		}},
		{name: "volume backup of an app", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) {
				s.Backup = &stack.BackupPolicy{Kind: stack.BackupVolume, Schedule: "@daily", Retention: stack.Retention{KeepLast: 3}}
			}))
		}},
	},
	"QL029": {
		{name: "writable stateless", model: func() *stack.Model {
			return newModel("prod", with(clean("web"), func(s *stack.Service) { s.ReadOnly = false }))
		}, want: []string{"web"}},
		{name: "writable database", model: func() *stack.Model { return newModel("prod", cleanDB("db")) }},
		{name: "dev", model: func() *stack.Model {
			return newModel("dev", with(clean("web"), func(s *stack.Service) { s.ReadOnly = false }))
		}},
	},
	stack.RuleHostPaths: {
		{name: "allowed host path", model: func() *stack.Model {
			m := newModel("prod", clean("web"))
			m.AllowHostPaths = []string{"/srv/data"}
			return m
		}, want: []string{""}},
		{name: "no allowance", model: func() *stack.Model { return newModel("prod", clean("web")) }},
	},
	"QL034": {
		{name: "insecure registry", model: func() *stack.Model {
			m := newModel("prod", clean("web"))
			m.Registry = &stack.Registry{URL: "registry.example.com:5000/shop", Insecure: true}
			return m
		}, want: []string{""}},
		{name: "verified registry", model: func() *stack.Model {
			m := newModel("prod", clean("web"))
			m.Registry = &stack.Registry{URL: "registry.example.com/shop"}
			return m
		}},
		{name: "dev", model: func() *stack.Model {
			m := newModel("dev", clean("web"))
			m.Registry = &stack.Registry{URL: "127.0.0.1:5000", Insecure: true}
			return m
		}},
	},
	RuleRuntimeIgnores: {
		{name: "ignored and changed settings", model: func() *stack.Model { return newModel("prod", clean("web"), cleanDB("db"), clean("cache")) },
			runtime: []RuntimeNote{
				{Service: "web", Setting: "read_only", Verdict: "ignore", Message: "no read-only root file system"},
				{Service: "db", Setting: "image", Verdict: "change", Message: "the host's PostgreSQL 15.18 runs"},
				{Service: "cache", Setting: "x-quai.process.command", Verdict: RuntimeRefuse, Message: "needs a command"},
			}, want: []string{"web", "db"}},
		{name: "no runtime asked", model: func() *stack.Model { return newModel("prod", clean("web"), cleanDB("db"), clean("cache")) }},
	},
	RuleRuntimeRefuses: {
		{name: "refused service", model: func() *stack.Model { return newModel("prod", clean("web"), cleanDB("db"), clean("cache")) },
			runtime: []RuntimeNote{
				{Service: "web", Setting: "read_only", Verdict: "ignore", Message: "no read-only root file system"},
				{Service: "db", Setting: "image", Verdict: "change", Message: "the host's PostgreSQL 15.18 runs"},
				{Service: "cache", Setting: "x-quai.process.command", Verdict: RuntimeRefuse, Message: "needs a command"},
			}, want: []string{"cache"}},
		{name: "nothing refused", model: func() *stack.Model { return newModel("prod", clean("web"), cleanDB("db"), clean("cache")) },
			runtime: []RuntimeNote{{Service: "web", Setting: "read_only", Verdict: "ignore", Message: "no read-only root file system"}}},
	},
}

func TestRules(t *testing.T) {
	for id, cases := range ruleCases {
		for _, tc := range cases {
			t.Run(id+"/"+tc.name, func(t *testing.T) {
				m := tc.model()
				var got []string
				opts := Options{Runtime: tc.runtime, RuntimeName: "process"}
				for _, f := range Check(m, opts) {
					if f.Rule == id {
						got = append(got, f.Service)
						if f.Message == "" || f.Hint == "" || f.File == "" {
							t.Errorf("finding lacks message, hint or file: %+v", f)
						}
					}
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("%s reported %v, want %v\nall findings:\n%s", id, got, tc.want, textOf(t, Check(m, opts)))
				}
			})
		}
	}
}

// TestRuleCasesCoverEveryRule makes the rule table and its tests move
// together: every rule has a positive and a negative case.
func TestRuleCasesCoverEveryRule(t *testing.T) {
	for _, r := range Rules() {
		if r.Meta {
			continue
		}
		var pos, neg bool
		for _, tc := range ruleCases[r.ID] {
			if len(tc.want) > 0 {
				pos = true
			} else {
				neg = true
			}
		}
		if !pos || !neg {
			t.Errorf("%s: want at least one positive and one negative case (positive %v, negative %v)", r.ID, pos, neg)
		}
	}
}

// TestCleanModelHasNoFindings guards the negative cases: the clean services
// they start from must really be clean in every environment.
func TestCleanModelHasNoFindings(t *testing.T) {
	for _, env := range []string{"dev", "staging", "prod"} {
		t.Run(env, func(t *testing.T) {
			m := newModel(env, with(clean("web"), func(s *stack.Service) {
				s.DependsOn = []stack.Dependency{{Service: "db", Condition: stack.ConditionHealthy}}
			}), clean("worker"), cleanDB("db"))
			if fs := Check(m, Options{}); len(fs) != 0 {
				t.Errorf("want no findings, got:\n%s", textOf(t, fs))
			}
		})
	}
}

func TestRuleTable(t *testing.T) {
	rules := Rules()
	if len(rules) < 20 {
		t.Fatalf("%d rules, want at least 20", len(rules))
	}
	for i, r := range rules {
		if want := fmt.Sprintf("QL%03d", i+1); r.ID != want {
			t.Errorf("rule %d has ID %s, want %s (IDs are sequential and never reused)", i, r.ID, want)
		}
		if _, err := ParseSeverity(string(r.Severity)); err != nil {
			t.Errorf("%s: %v", r.ID, err)
		}
		if r.Title == "" || r.Explanation == "" || r.Hint == "" || r.Example == "" || r.Fix == "" || r.Category == "" {
			t.Errorf("%s: title, explanation, hint, example, fix and category are required", r.ID)
		}
		if strings.Contains(r.Explanation, "\n") || strings.Contains(r.Hint, "\n") {
			t.Errorf("%s: explanation and hint must be one line", r.ID)
		}
		if (r.check == nil) != r.Meta {
			t.Errorf("%s: meta rules have no check function, other rules must", r.ID)
		}
		if got, ok := Lookup(r.ID); !ok || got.Title != r.Title {
			t.Errorf("Lookup(%s) = %v, %v", r.ID, got.Title, ok)
		}
	}
}

func TestFindingPositions(t *testing.T) {
	web := with(clean("web"), func(s *stack.Service) {
		s.Privileged = true
		s.Image = "example/web"
		s.Mounts = []stack.Mount{
			{Type: stack.MountVolume, Source: "cache", Target: "/cache", ReadOnly: true},
			{Type: stack.MountBind, Source: "/var/run/docker.sock", Target: "/var/run/docker.sock"},
		}
	})
	m := newModel("prod", web)
	m.SetPos("services.web.privileged", stack.Position{File: "envs/prod.yaml", Line: 4, Column: 5})
	m.SetPos("services.web.image", stack.Position{File: "compose.yaml", Line: 11, Column: 5})
	m.SetPos("services.web.volumes", stack.Position{File: "compose.yaml", Line: 12, Column: 5})
	m.SetPos("services.web.volumes.1", stack.Position{File: "compose.yaml", Line: 14, Column: 9})
	m.Routes[0].TLS = stack.TLSOff

	want := map[string]stack.Position{
		"QL001": {File: "envs/prod.yaml", Line: 4, Column: 5},
		"QL005": {File: "compose.yaml", Line: 14, Column: 9},
		"QL010": {File: "compose.yaml", Line: 11, Column: 5},
		"QL016": {File: "compose.yaml", Line: 2, Column: 7},
	}
	got := map[string]stack.Position{}
	for _, f := range Check(m, Options{}) {
		if _, ok := want[f.Rule]; ok {
			got[f.Rule] = f.Position()
		}
	}
	for id, p := range want {
		if got[id] != p {
			t.Errorf("%s at %v, want %v", id, got[id], p)
		}
	}
}

// TestKeyPosPrefersWrittenKey checks the fallback used when a setting can be
// written in two places (x-quai.replicas or deploy.replicas).
func TestKeyPosPrefersWrittenKey(t *testing.T) {
	web := with(clean("web"), func(s *stack.Service) { s.Replicas = 1 })
	m := newModel("prod", web)
	deploy := stack.Position{File: "compose.yaml", Line: 15, Column: 7}
	m.SetPos("services.web.deploy", stack.Position{File: "compose.yaml", Line: 14, Column: 5})
	m.SetPos("services.web.deploy.replicas", deploy)
	var got stack.Position
	for _, f := range Check(m, Options{}) {
		if f.Rule == "QL022" {
			got = f.Position()
		}
	}
	if got != deploy {
		t.Errorf("QL022 at %v, want deploy.replicas at %v", got, deploy)
	}
}

func TestCheckSortsAndNeverReturnsNil(t *testing.T) {
	if fs := Check(newModel("dev"), Options{}); fs == nil || len(fs) != 0 {
		t.Errorf("empty model: got %#v, want empty non-nil slice", fs)
	}
	a := with(clean("a"), func(s *stack.Service) { s.Privileged = true; s.ContainerName = "a" })
	b := with(clean("b"), func(s *stack.Service) { s.Privileged = true })
	m := newModel("dev", b, a)
	fs := Check(m, Options{})
	if !slices.IsSortedFunc(fs, func(x, y Finding) int {
		if x.Line != y.Line {
			return x.Line - y.Line
		}
		return strings.Compare(x.Rule, y.Rule)
	}) {
		t.Errorf("findings not sorted by line then rule:\n%s", textOf(t, fs))
	}
	if len(fs) != 3 {
		t.Errorf("want 3 findings, got:\n%s", textOf(t, fs))
	}
}

func textOf(t *testing.T, fs []Finding) string {
	t.Helper()
	var b strings.Builder
	if err := WriteText(&b, fs); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
