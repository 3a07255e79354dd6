package stack

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/go-units"
	"github.com/mattn/go-shellwords"
	"github.com/robfig/cron/v3"
)

// Extension is the name of quai's Compose extension field.
const Extension = "x-quai"

// DefaultHostPattern is the host of routes that name none, when x-quai sets
// no default_host, for instances of the default organization.
const DefaultHostPattern = "{project}.{env}.localhost"

// DefaultOrgHostPattern is the host of routes that name none, when x-quai
// sets no default_host, for instances of any other organization: the org
// keeps the instances of one project in several organizations apart.
const DefaultOrgHostPattern = "{project}.{env}.{org}.localhost"

// HostPattern is the pattern of the default host of id's routes: pattern
// when set (x-quai.default_host), else DefaultHostPattern for the default
// organization and DefaultOrgHostPattern for the others.
func HostPattern(pattern string, id Identity) string {
	switch {
	case pattern != "":
		return pattern
	case id.OrgOrDefault() == DefaultOrg:
		return DefaultHostPattern
	}
	return DefaultOrgHostPattern
}

// ExpandHost replaces the placeholders of a host pattern with id's
// project, environment and organization.
func ExpandHost(pattern string, id Identity) string {
	return strings.NewReplacer("{project}", id.Project, "{env}", id.Env, "{org}", id.OrgOrDefault()).Replace(pattern)
}

// DefaultRetention applies to a backup policy that sets no retention.
var DefaultRetention = Retention{KeepLast: 7}

var (
	topKeys       = []string{"alerts", "allow_host_paths", "default_host", "project", "promotion", "registry", "routes", "secrets", "sizes"}
	serviceKeys   = []string{"backup", "health", "lint", "metrics", "process", "replicas", "secret_env", "size"}
	routeKeys     = slices.Concat([]string{"cert", "host", "key", "path", "port", "service", "tls"}, ruleKeys)
	sizeKeys      = []string{"cpus", "memory"}
	healthKeys    = []string{"path"}
	metricsKeys   = []string{"path", "port"}
	processKeys   = []string{"command", "dir", "env"}
	backupKeys    = []string{"kind", "paths", "retention", "schedule"}
	retentionKeys = []string{"keep_daily", "keep_last", "keep_monthly", "keep_weekly"}
	lintKeys      = []string{"ignore"}
	ignoreKeys    = []string{"reason", "rule"}
	backupKinds   = []string{BackupFiles, BackupMySQL, BackupPostgres, BackupRedis, BackupVolume}
	tlsModes      = []string{string(TLSAuto), string(TLSCustom), string(TLSOff)}
)

// Hints for keys written at the wrong level.
var (
	misplacedAtTop = map[string]string{
		"size": "size is a per-service setting: put it under services.<name>.x-quai", "replicas": "replicas is a per-service setting: put it under services.<name>.x-quai",
		"health": "health is a per-service setting: put it under services.<name>.x-quai", "process": "process is a per-service setting: put it under services.<name>.x-quai",
		"backup": "backup is a per-service setting: put it under services.<name>.x-quai", "lint": "lint is a per-service setting: put it under services.<name>.x-quai",
	}
	misplacedInService = map[string]string{
		"routes": "routes are declared once for the stack: put them under the top-level x-quai", "route": "routes are declared once for the stack: put them under the top-level x-quai, as a list named routes",
		"project": "project belongs in the top-level x-quai", "default_host": "default_host belongs in the top-level x-quai", "sizes": "size classes are declared in the top-level x-quai; here, pick one with size:",
	}
)

var (
	nameRe     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	sizeNameRe = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	hostRe     = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	ruleRe     = regexp.MustCompile(`^QL[0-9]{3}$`)
	placeRe    = regexp.MustCompile(`\{[^}]*\}`)
)

// topLevel is the decoded top-level x-quai.
type topLevel struct {
	project     string
	defaultHost string
	sizes       map[string]Size
	routes      []rawRoute
	allow       []string
	promotion   *Promotion
	secrets     map[string]*Generate
	registry    *Registry
	alerts      *Alerts
}

// rawRoute is a route before its default host is applied and its target
// checked against the services.
type rawRoute struct {
	Route
	index   int
	hostSet bool
	valid   bool
}

func (c *checker) topLevel(v any) topLevel {
	t := topLevel{sizes: maps.Clone(DefaultSizes)}
	if v == nil {
		return t
	}
	m, ok := c.mapping(Extension, v)
	if !ok {
		return t
	}
	c.keys(Extension, m, topKeys, misplacedAtTop)
	if p, ok := m["project"]; ok {
		path := Extension + ".project"
		if s, ok := c.str(path, p); ok {
			if nameRe.MatchString(s) {
				t.project = s
			} else {
				c.errf(path, fmt.Sprintf("use lowercase letters, digits and dashes, e.g. %q", slugify(s)), "invalid project name %q", s)
			}
		}
	}
	if d, ok := m["default_host"]; ok {
		path := Extension + ".default_host"
		if s, ok := c.str(path, d); ok {
			t.defaultHost = c.hostPattern(path, s)
		}
	}
	if s, ok := m["sizes"]; ok {
		c.sizes(Extension+".sizes", s, t.sizes)
	}
	if r, ok := m["routes"]; ok {
		t.routes = c.routes(Extension+".routes", r)
	}
	if a, ok := m["allow_host_paths"]; ok {
		t.allow, _ = c.stringList(Extension+".allow_host_paths", a)
	}
	if p, ok := m["promotion"]; ok {
		t.promotion = c.promotion(Extension+".promotion", p)
	}
	if sv, ok := m["secrets"]; ok {
		t.secrets = c.secretExts(Extension+".secrets", sv)
	}
	if r, ok := m["registry"]; ok {
		t.registry = c.registry(Extension+".registry", r)
	}
	if a, ok := m["alerts"]; ok {
		t.alerts = c.alerts(Extension+".alerts", a)
	}
	return t
}

// hostPattern checks a default_host pattern; it returns "" when invalid.
func (c *checker) hostPattern(path, s string) string {
	good := true
	for _, ph := range placeRe.FindAllString(s, -1) {
		if ph != "{project}" && ph != "{env}" && ph != "{org}" {
			c.errf(path, joinHints(didYouMean(ph, []string{"{project}", "{env}", "{org}"}), "the placeholders are {project}, {env} and {org}"), "unknown placeholder %s in %q", ph, s)
			good = false
		}
	}
	if !good {
		return ""
	}
	sample := strings.NewReplacer("{project}", "project", "{env}", "env", "{org}", "org").Replace(s)
	if !hostRe.MatchString(sample) {
		c.errf(path, hostHint(s), "%q is not a valid host name pattern", s)
		return ""
	}
	return s
}

func hostHint(s string) string {
	switch {
	case strings.Contains(s, "://"):
		return "write the host name only, without the scheme"
	case strings.Contains(s, "/"):
		return "write the host name only; put the path in path:"
	case strings.Contains(s, ":"):
		return "write the host name only, without a port: quai listens on 80 and 443"
	case strings.ToLower(s) != s:
		return "host names are lowercase"
	}
	return "use letters, digits, dashes and dots, e.g. app.example.com"
}

func (c *checker) sizes(path string, v any, into map[string]Size) {
	m, ok := c.mapping(path, v)
	if !ok {
		return
	}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		p := joinPath(path, name)
		if !sizeNameRe.MatchString(name) {
			c.errf(p, "use lowercase letters, digits, dashes and underscores", "invalid size class name %q", name)
			continue
		}
		sm, ok := c.mapping(p, m[name])
		if !ok {
			continue
		}
		c.keys(p, sm, sizeKeys, nil)
		size, known := into[name]
		if !known {
			for _, k := range sizeKeys {
				if _, ok := sm[k]; !ok {
					c.errf(p, fmt.Sprintf("e.g. %s: { cpus: 0.5, memory: 256M }", name), "size class %q needs %s", name, k)
				}
			}
		}
		if cv, ok := sm["cpus"]; ok {
			if f, ok := c.number(p+".cpus", cv); ok {
				if f <= 0 || f > 1024 {
					c.errf(p+".cpus", "e.g. 0.5 for half a CPU", "cpus must be more than 0 and at most 1024, got %v", f)
				} else {
					size.MilliCPU = int64(math.Round(f * 1000))
				}
			}
		}
		if mv, ok := sm["memory"]; ok {
			if b, ok := c.memory(p+".memory", mv); ok {
				size.MemoryBytes = b
			}
		}
		into[name] = size
	}
}

func (c *checker) memory(path string, v any) (int64, bool) {
	var b int64
	switch v := v.(type) {
	case int, int64, uint64, float64:
		n, ok := c.integer(path, v)
		if !ok {
			return 0, false
		}
		b = int64(n)
	case string:
		n, err := units.RAMInBytes(v)
		if err != nil {
			c.errf(path, "write a number of bytes with a unit, e.g. 256M or 2G", "invalid memory size %q", v)
			return 0, false
		}
		b = n
	default:
		c.errf(path, "write a number of bytes with a unit, e.g. 256M or 2G", "must be a memory size, got %s", describe(v))
		return 0, false
	}
	if b < 4<<20 {
		c.errf(path, "write a number of bytes with a unit, e.g. 256M or 2G", "memory must be at least 4M, got %d bytes", b)
		return 0, false
	}
	return b, true
}

func (c *checker) routes(path string, v any) []rawRoute {
	list, ok := v.([]any)
	if !ok {
		c.errf(path, "write routes as a list: - { service: web, port: 8080 }", "must be a list of routes, got %s", describe(v))
		return nil
	}
	var out []rawRoute
	for i, item := range list {
		p := joinPath(path, strconv.Itoa(i))
		m, ok := c.mapping(p, item)
		if !ok {
			continue
		}
		c.keys(p, m, routeKeys, nil)
		r := rawRoute{index: i, valid: true, Route: Route{Path: "/", TLS: TLSAuto, Pos: c.idx.lookup(p)}}
		if h, ok := m["host"]; ok {
			if s, ok := c.str(p+".host", h); ok {
				if hostRe.MatchString(s) {
					r.Host, r.hostSet = s, true
				} else {
					c.errf(p+".host", hostHint(s), "invalid host %q", s)
					r.valid = false
				}
			} else {
				r.valid = false
			}
		}
		if pv, ok := m["path"]; ok {
			if s, ok := c.str(p+".path", pv); ok {
				if clean, msg := cleanRoutePath(s); msg == "" {
					r.Path = clean
				} else {
					c.errf(p+".path", "a path prefix starts with / and has no query or fragment, e.g. /api", "%s", msg)
					r.valid = false
				}
			} else {
				r.valid = false
			}
		}
		if sv, ok := m["service"]; ok {
			if s, ok := c.str(p+".service", sv); ok && s != "" {
				r.Service = s
			} else {
				r.valid = false
			}
		} else {
			c.errf(p, "name the service that answers this route, e.g. service: web", "route has no service")
			r.valid = false
		}
		if pv, ok := m["port"]; ok {
			if n, ok := c.integer(p+".port", pv); ok {
				if n < 1 || n > 65535 {
					c.errf(p+".port", "a port is between 1 and 65535", "invalid port %d", n)
					r.valid = false
				} else {
					r.Port = n
				}
			} else {
				r.valid = false
			}
		} else {
			c.errf(p, "name the container port the service listens on, e.g. port: 8080", "route has no port")
			r.valid = false
		}
		if tv, ok := m["tls"]; ok {
			if s, ok := c.scalar(p+".tls", tv); ok {
				if s == "false" {
					s = "off"
				}
				if slices.Contains(tlsModes, s) {
					r.TLS = TLSMode(s)
				} else {
					c.errf(p+".tls", joinHints(didYouMean(s, tlsModes), "tls is auto, off or custom"), "unknown tls mode %q", s)
					r.valid = false
				}
			}
		}
		for _, k := range []string{"cert", "key"} {
			fv, ok := m[k]
			if !ok {
				if r.TLS == TLSCustom {
					c.errf(p+".tls", fmt.Sprintf("add %s: with the path of the PEM file, relative to the project directory", k), "tls: custom needs a %s file", k)
					r.valid = false
				}
				continue
			}
			s, ok := c.str(p+"."+k, fv)
			if !ok {
				continue
			}
			switch {
			case r.TLS != TLSCustom:
				c.errf(p+"."+k, "set tls: custom to serve this certificate, or remove "+k, "%s is only used with tls: custom (this route has tls: %s)", k, r.TLS)
			case s == "" || filepath.IsAbs(s):
				c.errf(p+"."+k, "keep certificates with the project, e.g. certs/site.pem, and seal the key as a secret", "%s must be a path relative to the project directory, got %q", k, s)
				r.valid = false
			case !c.hostFile(p+"."+k, "TLS "+k+" file", s, &limitFile):
				r.valid = false
			case k == "cert":
				r.CertFile = filepath.ToSlash(filepath.Clean(s))
			default:
				r.KeyFile = filepath.ToSlash(filepath.Clean(s))
			}
		}
		rules, ok := c.routeRules(p, m)
		r.Rules = rules
		r.valid = r.valid && ok
		out = append(out, r)
	}
	return out
}

// cleanRoutePath normalises a route path prefix ("/api/" → "/api") or says
// what is wrong with it.
func cleanRoutePath(s string) (string, string) {
	switch {
	case !strings.HasPrefix(s, "/"):
		return "", fmt.Sprintf("path %q must start with /", s)
	case strings.ContainsAny(s, "?# \t"):
		return "", fmt.Sprintf("path %q must not contain a query, a fragment or spaces", s)
	}
	if len(s) > 1 {
		s = strings.TrimRight(s, "/")
		s = cmp.Or(s, "/")
	}
	return s, ""
}

// serviceExt is a decoded services.<name>.x-quai.
type serviceExt struct {
	size      string
	replicas  *int
	health    string
	process   *Process
	backup    *BackupPolicy
	suppress  []Suppression
	secretEnv map[string]string
	metrics   *MetricsEndpoint
}

func (c *checker) service(name string, v any, sizes map[string]Size, dir string) serviceExt {
	var x serviceExt
	base := "services." + name + "." + Extension
	if v == nil {
		return x
	}
	m, ok := c.mapping(base, v)
	if !ok {
		return x
	}
	c.keys(base, m, serviceKeys, misplacedInService)
	if sv, ok := m["size"]; ok {
		if s, ok := c.str(base+".size", sv); ok {
			if _, known := sizes[s]; known {
				x.size = s
			} else {
				classes := slices.Sorted(maps.Keys(sizes))
				c.errf(base+".size", joinHints(didYouMean(s, classes), "the classes are "+strings.Join(classes, ", ")+"; declare others under x-quai.sizes"), "unknown size class %q", s)
			}
		}
	}
	if rv, ok := m["replicas"]; ok {
		if n, ok := c.integer(base+".replicas", rv); ok {
			if n < 0 {
				c.errf(base+".replicas", "use 0 to keep the service stopped", "replicas must not be negative, got %d", n)
			} else {
				x.replicas = &n
			}
		}
	}
	if hv, ok := m["health"]; ok {
		hp := base + ".health"
		if hm, ok := c.mapping(hp, hv); ok {
			c.keys(hp, hm, healthKeys, nil)
			if pv, ok := hm["path"]; ok {
				if s, ok := c.str(hp+".path", pv); ok {
					if strings.HasPrefix(s, "/") {
						x.health = s
					} else {
						c.errf(hp+".path", fmt.Sprintf("e.g. /%s", s), "health path %q must start with /", s)
					}
				}
			}
		}
	}
	// x-quai.metrics (the metrics part of issue 12).
	if mv, ok := m["metrics"]; ok {
		x.metrics = c.metricsEndpoint(base+".metrics", mv)
	}
	if pv, ok := m["process"]; ok {
		x.process = c.process(base+".process", pv, dir)
	}
	if bv, ok := m["backup"]; ok {
		x.backup = c.backup(base+".backup", bv)
	}
	if lv, ok := m["lint"]; ok {
		x.suppress = c.lint(base+".lint", lv)
	}
	if sv, ok := m["secret_env"]; ok {
		x.secretEnv = c.secretEnv(base+".secret_env", sv)
	}
	return x
}

// metricsEndpoint decodes x-quai.metrics: {path, port}, the app's
// Prometheus endpoint that quai scrapes.
func (c *checker) metricsEndpoint(path string, v any) *MetricsEndpoint {
	m, ok := c.mapping(path, v)
	if !ok {
		return nil
	}
	c.keys(path, m, metricsKeys, nil)
	e := &MetricsEndpoint{Path: "/metrics"}
	if pv, ok := m["path"]; ok {
		if s, ok := c.str(path+".path", pv); ok {
			if strings.HasPrefix(s, "/") {
				e.Path = s
			} else {
				c.errf(path+".path", fmt.Sprintf("e.g. /%s", s), "metrics path %q must start with /", s)
			}
		}
	}
	if pv, ok := m["port"]; ok {
		if n, ok := c.integer(path+".port", pv); ok {
			if n < 1 || n > 65535 {
				c.errf(path+".port", "leave it out to use the service's own port", "metrics port %d is not between 1 and 65535", n)
			} else {
				e.Port = n
			}
		}
	}
	return e
}

func (c *checker) process(path string, v any, dir string) *Process {
	m, ok := c.mapping(path, v)
	if !ok {
		return nil
	}
	c.keys(path, m, processKeys, nil)
	p := &Process{}
	if cv, ok := m["command"]; ok {
		cp := path + ".command"
		switch cv := cv.(type) {
		case string:
			args, err := shellwords.Parse(cv)
			switch {
			case err != nil:
				c.errf(cp, "check the quotes, or write the command as a list", "cannot split command %q: %v", cv, err)
			case len(args) == 0:
				c.errf(cp, `e.g. command: ["./server", "--port", "$${PORT}"]`, "command is empty")
			default:
				p.Command = args
			}
		case []any:
			if args, ok := c.stringList(cp, cv); ok {
				if len(args) == 0 {
					c.errf(cp, `e.g. command: ["./server", "--port", "$${PORT}"]`, "command is empty")
				}
				p.Command = args
			}
		default:
			c.errf(cp, `e.g. command: ["./server", "--port", "$${PORT}"]`, "command must be a string or a list of strings, got %s", describe(cv))
		}
	}
	if dv, ok := m["dir"]; ok {
		if s, ok := c.str(path+".dir", dv); ok {
			if filepath.IsAbs(s) {
				p.Dir = filepath.Clean(s)
			} else {
				p.Dir = filepath.Join(dir, s)
			}
		}
	}
	if ev, ok := m["env"]; ok {
		ep := path + ".env"
		if em, ok := c.mapping(ep, ev); ok && len(em) > 0 {
			p.Env = make(map[string]string, len(em))
			for _, k := range slices.Sorted(maps.Keys(em)) {
				if val, ok := c.scalar(joinPath(ep, k), em[k]); ok {
					p.Env[k] = val
				}
			}
		}
	}
	return p
}

func (c *checker) backup(path string, v any) *BackupPolicy {
	m, ok := c.mapping(path, v)
	if !ok {
		return nil
	}
	c.keys(path, m, backupKeys, nil)
	b := &BackupPolicy{Retention: DefaultRetention}
	good := true
	if kv, ok := m["kind"]; ok {
		if s, ok := c.str(path+".kind", kv); ok {
			if slices.Contains(backupKinds, s) {
				b.Kind = s
			} else {
				c.errf(path+".kind", joinHints(didYouMean(s, backupKinds), "the kinds are "+strings.Join(backupKinds, ", ")), "unknown backup kind %q", s)
				good = false
			}
		} else {
			good = false
		}
	} else {
		c.errf(path, "add kind: postgres, mysql, redis, volume or files", "backup has no kind")
		good = false
	}
	if sv, ok := m["schedule"]; ok {
		if s, ok := c.str(path+".schedule", sv); ok {
			if _, err := cron.ParseStandard(s); err != nil {
				c.errf(path+".schedule", `use 5 fields (minute hour day-of-month month day-of-week), e.g. "0 3 * * *", or @hourly, @daily, @weekly, @monthly`, "invalid schedule %q: %v", s, err)
				good = false
			} else {
				b.Schedule = s
			}
		} else {
			good = false
		}
	} else {
		c.errf(path, `add a schedule, e.g. schedule: "0 3 * * *" (every day at 03:00) or @daily`, "backup has no schedule")
		good = false
	}
	if rv, ok := m["retention"]; ok {
		if r, ok := c.retention(path+".retention", rv); ok {
			b.Retention = r
		} else {
			good = false
		}
	}
	if pv, ok := m["paths"]; ok {
		pp := path + ".paths"
		if paths, ok := c.stringList(pp, pv); ok {
			if b.Kind != "" && b.Kind != BackupFiles && b.Kind != BackupVolume {
				c.errf(pp, "a "+b.Kind+" backup dumps the database; remove paths, or use kind: files", "paths are only used by files and volume backups")
				good = false
			}
			for i, s := range paths {
				if !strings.HasPrefix(s, "/") {
					c.errf(joinPath(pp, strconv.Itoa(i)), "write the path inside the container, e.g. /var/www/html", "backup path %q must be absolute", s)
					good = false
				}
			}
			b.Paths = paths
		} else {
			good = false
		}
	}
	if !good {
		return nil
	}
	return b
}

func (c *checker) retention(path string, v any) (Retention, bool) {
	var r Retention
	m, ok := c.mapping(path, v)
	if !ok {
		return r, false
	}
	c.keys(path, m, retentionKeys, nil)
	good := true
	fields := map[string]*int{"keep_last": &r.KeepLast, "keep_daily": &r.KeepDaily, "keep_weekly": &r.KeepWeekly, "keep_monthly": &r.KeepMonthly}
	for _, k := range retentionKeys {
		kv, ok := m[k]
		if !ok {
			continue
		}
		n, ok := c.integer(joinPath(path, k), kv)
		switch {
		case !ok:
			good = false
		case n < 0:
			c.errf(joinPath(path, k), "use 0 (or leave it out) to keep none by this rule", "%s must not be negative, got %d", k, n)
			good = false
		default:
			*fields[k] = n
		}
	}
	if good && r == (Retention{}) {
		c.errf(path, "keep at least one backup, e.g. keep_last: 7", "retention keeps no backup at all")
		good = false
	}
	return r, good
}

func (c *checker) lint(path string, v any) []Suppression {
	m, ok := c.mapping(path, v)
	if !ok {
		return nil
	}
	c.keys(path, m, lintKeys, nil)
	iv, ok := m["ignore"]
	if !ok {
		return nil
	}
	ip := path + ".ignore"
	list, ok := iv.([]any)
	if !ok {
		c.errf(ip, `e.g. ignore: [{ rule: QL012, reason: "..." }]`, "must be a list of rules to ignore, got %s", describe(iv))
		return nil
	}
	var out []Suppression
	for i, item := range list {
		p := joinPath(ip, strconv.Itoa(i))
		im, ok := c.mapping(p, item)
		if !ok {
			continue
		}
		c.keys(p, im, ignoreKeys, nil)
		var s Suppression
		if rv, ok := im["rule"]; ok {
			if r, ok := c.str(p+".rule", rv); ok {
				if ruleRe.MatchString(r) {
					s.Rule = r
				} else {
					c.errf(p+".rule", "rule IDs are QL followed by three digits, e.g. QL012", "invalid rule ID %q", r)
				}
			}
		} else {
			c.errf(p, "name the rule, e.g. rule: QL012", "ignore entry has no rule")
		}
		if rv, ok := im["reason"]; ok {
			if r, ok := c.str(p+".reason", rv); ok {
				if strings.TrimSpace(r) == "" {
					c.errf(p+".reason", "say why the rule does not apply here, so the next reader knows", "reason is empty")
				} else {
					s.Reason = r
				}
			}
		} else {
			c.errf(p, "say why the rule does not apply here, e.g. reason: \"the image needs root; tracked in OPS-42\"", "ignore entry has no reason")
		}
		if s.Rule != "" && s.Reason != "" {
			out = append(out, s)
		}
	}
	return out
}

// slugify turns s into a valid project name, for hints and for names
// derived from directories.
func slugify(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.TrimRight(b.String(), "-")
	if len(out) > 63 {
		out = strings.TrimRight(out[:63], "-")
	}
	return out
}
