package stack

import (
	"cmp"
	"fmt"
	"strings"
	"time"
)

// Identity names one instance: a project deployed for one organization in one
// environment. It is stable across releases and is what every runtime object
// is labelled with.
type Identity struct {
	Org     string `json:"org"`
	Project string `json:"project"`
	Env     string `json:"env"`
}

// DefaultOrg is the organization of instances installed without --org.
const DefaultOrg = "default"

// Name returns the instance name users type: "project-env" for the default
// organization, "org/project-env" otherwise.
func (id Identity) Name() string {
	if id.OrgOrDefault() == DefaultOrg {
		return id.Project + "-" + id.Env
	}
	return id.Org + "/" + id.Project + "-" + id.Env
}

// Slug is a DNS-label-safe form of the identity ("org-project-env"), used for
// namespaces, networks and directory names.
func (id Identity) Slug() string {
	return id.OrgOrDefault() + "-" + id.Project + "-" + id.Env
}

// OrgOrDefault is the identity's organization, DefaultOrg when it has none
// (identities built before organizations existed, or by hand).
func (id Identity) OrgOrDefault() string { return cmp.Or(id.Org, DefaultOrg) }

func (id Identity) String() string { return id.Name() }

// Position is where a key was written: file (relative to the project
// directory), line and column, all 1-based. The zero Position means unknown.
type Position struct {
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
}

func (p Position) String() string {
	switch {
	case p.File == "":
		return ""
	case p.Line == 0:
		return p.File
	default:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
	}
}

// IsZero reports whether the position is unknown.
func (p Position) IsZero() bool { return p.File == "" }

// Model is the validated, runtime-agnostic desired state of one instance. It
// is what stack.Load returns; nothing downstream sees compose-go types.
// Slices are sorted (services by name, routes by host then path) so that the
// model, its hashes and everything rendered from it are deterministic.
type Model struct {
	Identity Identity `json:"identity"`
	// Dir is the absolute project directory.
	Dir string `json:"dir"`
	// Files lists the files that were loaded, in load order, relative to Dir.
	Files []string `json:"files"`

	Services []*Service `json:"services"`
	Routes   []Route    `json:"routes,omitempty"`
	Volumes  []Volume   `json:"volumes,omitempty"`
	Secrets  []Secret   `json:"secrets,omitempty"`
	// SecretVersions maps each sealed secret the release uses to the
	// version of its value (never the value). The engine sets it when it
	// resolves the secrets; the loader leaves it empty.
	SecretVersions map[string]string `json:"secret_versions,omitempty"`
	// AllowHostPaths are the x-quai.allow_host_paths entries: directories
	// outside the project that the stack's files may name. Each is a lint
	// finding at error severity (RuleHostPaths).
	AllowHostPaths []string `json:"allow_host_paths,omitempty"`
	// AllowedRules are the lint rules with error findings the deployer
	// allowed (quai up --allow); the release records them, and the daemon
	// honours AllowHostPaths only when RuleHostPaths is among them.
	AllowedRules []string `json:"allowed_rules,omitempty"`
	// Promotion is x-quai.promotion: what a promotion into this instance
	// must satisfy; nil when the stack sets no rules.
	Promotion *Promotion `json:"promotion,omitempty"`
	// Sizes holds the size classes in effect (defaults merged with x-quai.sizes).
	Sizes map[string]Size `json:"sizes,omitempty"`
	// Registry is x-quai.registry, nil when the stack sets none.
	Registry *Registry `json:"registry,omitempty"`
	// Alerts is x-quai.alerts, nil when the stack sets none.
	Alerts *Alerts `json:"alerts,omitempty"`

	// Resolved is the fully merged and interpolated Compose document (YAML), as
	// `docker compose config` would print it, for `quai config` and the
	// compose renderer.
	Resolved []byte `json:"-"`

	// positions maps key paths to where they were written; see Pos.
	positions map[string]Position
}

// ServedPort is the container port a replica's address reaches (the
// proxy's target, and where quai scrapes /metrics): the port a route to
// the service names, else the first TCP ports: target, else the first
// expose: entry; 0 if the service declares none.
func (s *Service) ServedPort() int {
	if s.RoutedPort > 0 {
		return s.RoutedPort
	}
	return s.firstPort()
}

// firstPort is the first TCP ports: target, else the first expose: entry.
func (s *Service) firstPort() int {
	for _, p := range s.Ports {
		if p.Protocol == "" || strings.EqualFold(p.Protocol, "tcp") {
			return p.Target
		}
	}
	if len(s.Expose) > 0 {
		return s.Expose[0]
	}
	return 0
}

// MetricsNotScraped says why quai does not scrape a service's
// x-quai.metrics on a runtime that gives each replica one address (the
// process and Docker runtimes): a metrics port other than the port that
// address reaches would name a port of the host, not of the replica, and
// is never scraped. Empty: the endpoint is scraped at the replica's
// address.
func (s *Service) MetricsNotScraped() string {
	if s.Metrics == nil || s.Metrics.Port == 0 || s.Metrics.Port == s.ServedPort() {
		return ""
	}
	return fmt.Sprintf("metrics port %d is not scraped: quai reaches each replica at one address, the one its proxy uses (container port %d); serve %s on that port or leave x-quai.metrics.port out",
		s.Metrics.Port, s.ServedPort(), s.Metrics.Path)
}

// MetricsEndpoint is where a service serves Prometheus metrics: Path on
// Port of each replica; a zero Port means the replica's own address.
type MetricsEndpoint struct {
	Port int    `json:"port,omitempty"`
	Path string `json:"path"`
}

// Service is one Compose service with its x-quai settings applied.
type Service struct {
	Name  string `json:"name"`
	Image string `json:"image,omitempty"`
	// Build is set when the service is built from source.
	Build *Build `json:"build,omitempty"`

	Command     []string          `json:"command,omitempty"`
	Entrypoint  []string          `json:"entrypoint,omitempty"`
	Environment map[string]string `json:"environment,omitempty"`
	WorkingDir  string            `json:"working_dir,omitempty"`
	User        string            `json:"user,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`

	Ports   []Port   `json:"ports,omitempty"`
	Expose  []int    `json:"expose,omitempty"`
	Mounts  []Mount  `json:"mounts,omitempty"`
	Secrets []string `json:"secrets,omitempty"`
	// SecretEnv maps an environment variable to the secret whose value it
	// receives (x-quai.secret_env), resolved at deploy time.
	SecretEnv map[string]string `json:"secret_env,omitempty"`

	DependsOn   []Dependency `json:"depends_on,omitempty"`
	Healthcheck *Healthcheck `json:"healthcheck,omitempty"`

	Privileged    bool     `json:"privileged,omitempty"`
	NetworkMode   string   `json:"network_mode,omitempty"`
	Pid           string   `json:"pid,omitempty"`
	Ipc           string   `json:"ipc,omitempty"`
	CapAdd        []string `json:"cap_add,omitempty"`
	CapDrop       []string `json:"cap_drop,omitempty"`
	ReadOnly      bool     `json:"read_only,omitempty"`
	Restart       string   `json:"restart,omitempty"`
	ContainerName string   `json:"container_name,omitempty"`
	// StopGracePeriod is how long a replica may take to exit after SIGTERM
	// before it is killed (Compose stop_grace_period); zero leaves the
	// runtime's default.
	StopGracePeriod time.Duration `json:"stop_grace_period,omitempty"`
	// StopFirst is Compose's deploy.update_config.order: stop-first. The
	// old replicas stop before the new ones start, even when the service
	// is routed (a short outage instead of the zero-downtime switchover):
	// for applications that lock their data, whose two replicas cannot run
	// on one volume at once.
	StopFirst bool `json:"stop_first,omitempty"`

	// Replicas is the desired replica count (x-quai.replicas, else
	// deploy.replicas, else 1).
	Replicas int `json:"replicas"`
	// Size is the resolved size class; Resources are the effective limits
	// (deploy.resources.limits when set, else the size class).
	Size      string    `json:"size,omitempty"`
	Resources Resources `json:"resources"`

	// Process holds how the process runtime starts this service.
	Process *Process `json:"process,omitempty"`
	// RoutedPort is the container port the first route to the service
	// names (routes sorted by host and path) when it is not the first port
	// the service declares, else 0: the port the proxy reaches (Syncthing
	// publishes its sync protocol first, routes its GUI).
	RoutedPort int `json:"routed_port,omitempty"`
	// HealthPath is the HTTP path probed for routed services (x-quai.health.path).
	HealthPath string `json:"health_path,omitempty"`
	// Backup is the service's backup policy, if any.
	Backup *BackupPolicy `json:"backup,omitempty"`
	// Metrics is the app's Prometheus endpoint quai scrapes
	// (x-quai.metrics), if any.
	Metrics *MetricsEndpoint `json:"metrics,omitempty"`
	// Suppress lists lint rules silenced for this service, with the reason.
	Suppress []Suppression `json:"suppress,omitempty"`

	// Hash is a stable content hash of everything that, when changed, requires
	// the service's replicas to be recreated. Set by Load; the engine folds
	// in the versions of the sealed secrets the service receives.
	Hash string `json:"hash"`
	// LoadHash is Hash as Load computed it, kept by the engine when it
	// folds secret versions into Hash, so folding again starts from it.
	LoadHash string `json:"load_hash,omitempty"`
}

// Build describes how an image is built from source.
type Build struct {
	Context    string            `json:"context"`
	Dockerfile string            `json:"dockerfile,omitempty"`
	Args       map[string]string `json:"args,omitempty"`
	Target     string            `json:"target,omitempty"`
}

// Port is a container port, optionally published on the host.
type Port struct {
	Target    int    `json:"target"`
	Published string `json:"published,omitempty"`
	HostIP    string `json:"host_ip,omitempty"`
	Protocol  string `json:"protocol,omitempty"`
}

// MountType is the kind of a mount.
type MountType string

// Mount types.
const (
	MountVolume MountType = "volume"
	MountBind   MountType = "bind"
	MountTmpfs  MountType = "tmpfs"
)

// Mount is a volume, bind mount or tmpfs of a service.
type Mount struct {
	Type MountType `json:"type"`
	// Source is the named volume (volume) or the absolute host path (bind).
	Source   string `json:"source,omitempty"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
}

// Dependency conditions, as in Compose.
const (
	ConditionStarted   = "service_started"
	ConditionHealthy   = "service_healthy"
	ConditionCompleted = "service_completed_successfully"
)

// Dependency is a depends_on entry.
type Dependency struct {
	Service   string `json:"service"`
	Condition string `json:"condition"`
}

// Healthcheck is a command health check (Compose `healthcheck`).
type Healthcheck struct {
	// Test is the Compose test form: ["CMD", ...], ["CMD-SHELL", "..."] or ["NONE"].
	Test        []string      `json:"test,omitempty"`
	Interval    time.Duration `json:"interval,omitempty"`
	Timeout     time.Duration `json:"timeout,omitempty"`
	Retries     int           `json:"retries,omitempty"`
	StartPeriod time.Duration `json:"start_period,omitempty"`
	Disable     bool          `json:"disable,omitempty"`
}

// Resources are CPU and memory limits. Zero means unlimited.
type Resources struct {
	// MilliCPU is thousandths of a CPU (1500 = 1.5 CPUs).
	MilliCPU int64 `json:"milli_cpu,omitempty"`
	// MemoryBytes is the memory limit in bytes.
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
}

// Size is a named size class, like a cloud flavor.
type Size struct {
	MilliCPU    int64 `json:"milli_cpu"`
	MemoryBytes int64 `json:"memory_bytes"`
}

// DefaultSizes are the built-in size classes; x-quai.sizes may add or override.
var DefaultSizes = map[string]Size{
	"nano":   {MilliCPU: 250, MemoryBytes: 128 << 20},
	"small":  {MilliCPU: 500, MemoryBytes: 512 << 20},
	"medium": {MilliCPU: 1000, MemoryBytes: 1 << 30},
	"large":  {MilliCPU: 2000, MemoryBytes: 4 << 30},
	"xlarge": {MilliCPU: 4000, MemoryBytes: 8 << 30},
}

// Process says how the process runtime runs a service (x-quai.process).
type Process struct {
	// Command is the argv to start; empty for well-known database images,
	// which run from the host's server binaries.
	Command []string          `json:"command,omitempty"`
	Dir     string            `json:"dir,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
}

// TLSMode says how a route's certificate is obtained.
type TLSMode string

// TLS modes.
const (
	TLSAuto   TLSMode = "auto"   // local CA for *.localhost, ACME otherwise
	TLSOff    TLSMode = "off"    // plain HTTP only
	TLSCustom TLSMode = "custom" // CertFile and KeyFile
)

// Route is a public route: host + path prefix → service port.
type Route struct {
	Host    string  `json:"host"`
	Path    string  `json:"path"`
	Service string  `json:"service"`
	Port    int     `json:"port"`
	TLS     TLSMode `json:"tls"`
	// CertFile and KeyFile are set for TLSCustom, relative to Dir.
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
	// Rules are the route's access rules and response options
	// (routerules.go); nil for none.
	Rules *RouteRules `json:"rules,omitempty"`
	// Pos is where the route was declared.
	Pos Position `json:"-"`
}

// Volume is a named volume of the stack.
type Volume struct {
	Name     string `json:"name"`
	External bool   `json:"external,omitempty"`
}

// Secret is a declared secret. Values never live in the model: File points at
// a file, Environment names a variable, or External says the platform
// provides it (a sealed secret: the project's secrets/<env>.yaml or
// orgs/<org>/secrets/<env>.yaml, else Generate), resolved at deploy time.
type Secret struct {
	Name        string `json:"name"`
	File        string `json:"file,omitempty"`
	Environment string `json:"environment,omitempty"`
	External    bool   `json:"external,omitempty"`
	// Generate creates the value at first install when no sealed file
	// holds one (x-quai.secrets.NAME.generate).
	Generate *Generate `json:"generate,omitempty"`
}

// Backup kinds.
const (
	BackupPostgres = "postgres"
	BackupMySQL    = "mysql"
	BackupRedis    = "redis"
	BackupVolume   = "volume"
	BackupFiles    = "files"
)

// BackupPolicy is when and how a service's data is backed up.
type BackupPolicy struct {
	Kind string `json:"kind"`
	// Schedule is a 5-field cron expression (or @daily, @hourly, ...).
	Schedule  string    `json:"schedule"`
	Retention Retention `json:"retention"`
	// Paths lists what a files/volume backup covers (defaults to the service's volumes).
	Paths []string `json:"paths,omitempty"`
}

// Retention says which backups are kept.
type Retention struct {
	KeepLast    int `json:"keep_last,omitempty"`
	KeepDaily   int `json:"keep_daily,omitempty"`
	KeepWeekly  int `json:"keep_weekly,omitempty"`
	KeepMonthly int `json:"keep_monthly,omitempty"`
}

// Suppression silences one lint rule for one service, with a reason.
type Suppression struct {
	Rule   string `json:"rule"`
	Reason string `json:"reason"`
}

// Service returns the named service, or nil.
func (m *Model) Service(name string) *Service {
	for _, s := range m.Services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Pos returns where the key at path was written in the file that last set
// it. Paths are dot-separated Compose keys, e.g. "services.web.privileged",
// "services.web.x-quai.size", "x-quai.routes.0.host". When the exact key is
// unknown the nearest known ancestor is returned, so findings always point
// somewhere useful.
func (m *Model) Pos(path string) Position {
	for p := path; p != ""; p = parentPath(p) {
		if pos, ok := m.positions[p]; ok {
			return pos
		}
	}
	return Position{}
}

// ServicePos is Pos for a key of a service ("" for the service itself).
func (m *Model) ServicePos(service, key string) Position {
	if key == "" {
		return m.Pos("services." + service)
	}
	return m.Pos("services." + service + "." + key)
}

// SetPos records where path was written; the loader calls it, and tests that
// build models by hand may too.
func (m *Model) SetPos(path string, pos Position) {
	if m.positions == nil {
		m.positions = make(map[string]Position)
	}
	m.positions[path] = pos
}

func parentPath(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '.' {
			return p[:i]
		}
	}
	return ""
}
