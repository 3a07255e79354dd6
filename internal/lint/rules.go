package lint

import (
	"cmp"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/quai-dev/quai/internal/stack"
)

// IDs of the rules that check suppressions; the suppression pass reports them.
const (
	ruleSuppressNoReason = "QL030"
	ruleSuppressUnknown  = "QL031"
	ruleSuppressUnused   = "QL032"
)

// allRules returns the rule table, ordered by ID. It is built on each call so
// that no caller can change another's rules.
func allRules() []Rule {
	return []Rule{
		{
			ID: "QL001", Severity: SeverityError, Scope: ScopeAll,
			Category:    CategorySecurity,
			Title:       "privileged container",
			Explanation: "A privileged container has every capability and all host devices; escaping it is trivial.",
			Hint:        "remove `privileged: true`; add the one capability the service needs with cap_add instead",
			Example:     "services:\n  web:\n    image: nginx:1.27\n    privileged: true",
			Fix:         "services:\n  web:\n    image: nginx:1.27\n    cap_add: [NET_BIND_SERVICE]",
			check:       checkPrivileged,
		},
		{
			ID: "QL002", Severity: SeverityError, Scope: ScopeAll,
			Category:    CategorySecurity,
			Title:       "host network namespace",
			Explanation: "With the host network the service binds host ports directly, bypasses the instance network and collides with other instances.",
			Hint:        "remove `network_mode: host`; expose the port and add an x-quai route or a published port",
			Example:     "services:\n  web:\n    image: nginx:1.27\n    network_mode: host",
			Fix:         "services:\n  web:\n    image: nginx:1.27\n    expose: [\"80\"]",
			check:       checkHostNS("network_mode", func(s *stack.Service) string { return s.NetworkMode }, "network"),
		},
		{
			ID: "QL003", Severity: SeverityError, Scope: ScopeAll,
			Category:    CategorySecurity,
			Title:       "host PID namespace",
			Explanation: "Sharing the host PID namespace lets the service see and signal every process on the host.",
			Hint:        "remove `pid: host`",
			Example:     "services:\n  agent:\n    image: example/agent:2.1\n    pid: host",
			Fix:         "services:\n  agent:\n    image: example/agent:2.1",
			check:       checkHostNS("pid", func(s *stack.Service) string { return s.Pid }, "PID"),
		},
		{
			ID: "QL004", Severity: SeverityError, Scope: ScopeAll,
			Category:    CategorySecurity,
			Title:       "host IPC namespace",
			Explanation: "Sharing the host IPC namespace exposes the host's shared memory and semaphores to the service.",
			Hint:        "remove `ipc: host`; use `ipc: shareable` between services of the stack if they need shared memory",
			Example:     "services:\n  worker:\n    image: example/worker:3\n    ipc: host",
			Fix:         "services:\n  worker:\n    image: example/worker:3",
			check:       checkHostNS("ipc", func(s *stack.Service) string { return s.Ipc }, "IPC"),
		},
		{
			ID: "QL005", Severity: SeverityError, Scope: ScopeAll,
			Category:    CategorySecurity,
			Title:       "container engine socket mounted",
			Explanation: "Access to the Docker (or Podman, containerd) socket is root on the host: the service can start a privileged container.",
			Hint:        "remove the socket mount; if the service must watch containers, put a read-only socket proxy between it and the engine",
			Example:     "services:\n  ci:\n    image: example/ci:1.4\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock",
			Fix:         "services:\n  ci:\n    image: example/ci:1.4\n    environment:\n      DOCKER_HOST: tcp://socket-proxy:2375",
			check:       checkEngineSocket(false),
		},
		{
			ID: "QL006", Severity: SeverityWarning, Scope: ScopeAll,
			Category:    CategorySecurity,
			Title:       "container engine socket mounted read-only",
			Explanation: "`:ro` on a socket only stops replacing the file; the engine API behind it stays fully writable.",
			Hint:        "use a socket proxy that allows only the read endpoints the service needs",
			Example:     "services:\n  dashboard:\n    image: example/dashboard:1.0\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock:ro",
			Fix:         "services:\n  dashboard:\n    image: example/dashboard:1.0\n    environment:\n      DOCKER_HOST: tcp://socket-proxy:2375",
			check:       checkEngineSocket(true),
		},
		{
			ID: "QL007", Severity: SeverityError, Scope: ScopeAll,
			Category:    CategorySecurity,
			Title:       "sensitive host path mounted",
			Explanation: "Mounting the host's root, /etc, /proc, /sys, /dev, home or engine state gives the service the host's secrets or control over it.",
			Hint:        "mount only the project files the service needs, or a named volume",
			Example:     "services:\n  backup:\n    image: example/backup:1\n    volumes:\n      - /etc:/host-etc:ro",
			Fix:         "services:\n  backup:\n    image: example/backup:1\n    volumes:\n      - data:/data:ro",
			check:       checkSensitiveMount,
		},
		{
			ID: "QL008", Severity: SeverityError, Scope: ScopeAll,
			Category:    CategorySecurity,
			Title:       "dangerous capability added",
			Explanation: "Capabilities such as SYS_ADMIN, SYS_MODULE, SYS_PTRACE, NET_ADMIN or ALL are close to privileged mode.",
			Hint:        "drop the capability; if a tool needs it, run that tool outside the application container",
			Example:     "services:\n  vpn:\n    image: example/vpn:2\n    cap_add: [SYS_ADMIN]",
			Fix:         "services:\n  vpn:\n    image: example/vpn:2\n    cap_add: [NET_BIND_SERVICE]",
			check:       checkCapabilities(true),
		},
		{
			ID: "QL009", Severity: SeverityWarning, Scope: ScopeAll,
			Category:    CategorySecurity,
			Title:       "capability added",
			Explanation: "Every added capability widens what a compromised service can do to the host.",
			Hint:        "remove cap_add unless the service fails without it; prefer `cap_drop: [ALL]` plus the one capability needed",
			Example:     "services:\n  web:\n    image: example/web:1\n    cap_add: [CHOWN]",
			Fix:         "services:\n  web:\n    image: example/web:1\n    cap_drop: [ALL]",
			check:       checkCapabilities(false),
		},
		{
			ID: "QL010", Severity: SeverityWarning, Scope: ScopeAll,
			Category:    CategorySecurity,
			Title:       "image not pinned",
			Explanation: "An image without tag or tagged `latest` changes under the instance: releases stop being reproducible and rollbacks lie.",
			Hint:        "pin the image to a version tag (postgres:16.4) or a digest (@sha256:...)",
			Example:     "services:\n  db:\n    image: postgres",
			Fix:         "services:\n  db:\n    image: postgres:16.4",
			check:       checkImageTag,
		},
		{
			ID: "QL011", Severity: SeverityError, Scope: ScopeNonDev,
			Category:    CategorySecurity,
			Title:       "secret in plain environment",
			Explanation: "A password, token or key written as a literal in the stack file ends up in Git, in `docker inspect` and in every log of the config.",
			Hint:        "seal it: declare a secret with `external: true`, give it a value with `quai secrets set DIR --env ENV NAME` (or `x-quai.secrets.NAME.generate`), and pass it with `x-quai.secret_env` or as a file",
			Example:     "services:\n  db:\n    image: postgres:16.4\n    environment:\n      POSTGRES_PASSWORD: hunter2",
			Fix:         "secrets:\n  db_password:\n    external: true\nx-quai:\n  secrets:\n    db_password:\n      generate: password\nservices:\n  db:\n    image: postgres:16.4\n    x-quai:\n      secret_env:\n        POSTGRES_PASSWORD: db_password",
			Notes:       "Variables whose name contains PASSWORD, PASSWD, PASSPHRASE, SECRET, TOKEN, API_KEY, PRIVATE_KEY, ACCESS_KEY, AUTH_KEY, SIGNING_KEY, ENCRYPTION_KEY, CREDENTIAL(S), or ends in _PASS, _PWD or _KEY, are checked; names ending in _FILE, _PATH, _DIR, _ID, _USER, _USERNAME, _NAME, _URL, _URI, _HOST, _PORT, _LENGTH, _TTL, _EXPIRY, _HEADER or _ALGORITHM are not, nor empty values and paths under /run/secrets/. The loaded model holds interpolated values, so lint reads the stack files again and looks at the value as written in the last file that sets it: a value containing `${VAR}` or `$VAR` (or a variable listed without a value) is a reference and passes, unless it falls back to a literal default (`${VAR:-changeme}`), which is reported too; anything else is a literal. Values are never printed. Variables that come only from an env_file are not judged.",
			check:       checkSecretLiterals,
		},
		{
			ID: "QL012", Severity: SeverityWarning, Scope: ScopeAll,
			Category:    CategorySecurity,
			Title:       "runs as root",
			Explanation: "Without a non-root user, a compromised process is root inside the container, one kernel bug away from root on the host.",
			Hint:        "set `user: \"1000:1000\"` (or a named user the image creates); suppress with a reason if the Dockerfile already sets USER",
			Example:     "services:\n  web:\n    image: example/web:1.2",
			Fix:         "services:\n  web:\n    image: example/web:1.2\n    user: \"1000:1000\"",
			Notes:       "Services without `user:` whose image is a well-known database (postgres, mysql, mariadb, redis, mongo and relatives) are not reported: those images start as root only to fix ownership of their data directory, then drop to their own user. For services built from source the Dockerfile may set USER, which lint cannot see; suppress with that reason.",
			check:       checkRootUser,
		},
		{ //nolint:gosec // G101: the example is the literal password in a URL that this rule reports
			ID: "QL013", Severity: SeverityWarning, Scope: ScopeNonDev,
			Category:    CategorySecurity,
			Title:       "password in connection URL",
			Explanation: "A URL with a literal password (scheme://user:password@host) is a secret in plain environment, just harder to spot.",
			Hint:        "write the password part as a variable: postgres://app:${DB_PASSWORD}@db:5432/app",
			Example:     "services:\n  web:\n    image: example/web:1\n    environment:\n      DATABASE_URL: postgres://app:hunter2@db:5432/app",
			Fix:         "services:\n  web:\n    image: example/web:1\n    environment:\n      DATABASE_URL: postgres://app:${DB_PASSWORD}@db:5432/app",
			Notes:       "Any environment value of the form scheme://user:password@host is checked; a password written as a variable (`${DB_PASSWORD}`) passes, as in QL011, unless the variable falls back to a literal default.",
			check:       checkURLPasswords,
		},
		{
			ID: "QL014", Severity: SeverityWarning, Scope: ScopeAll,
			Category:    CategorySecurity,
			Title:       "database port published",
			Explanation: "A database published on all host interfaces is reachable from the network; other services reach it on the instance network anyway.",
			Hint:        "remove the published port, or bind it to loopback (\"127.0.0.1::5432\") for local tools",
			Example:     "services:\n  db:\n    image: postgres:16.4\n    ports:\n      - \"5432:5432\"",
			Fix:         "services:\n  db:\n    image: postgres:16.4\n    expose: [\"5432\"]",
			Notes:       "A port is a database port when the service runs a database image, or when its container port is a well-known database port (5432, 3306, 33060, 6379, 27017, 5984, 9042, 9200, 8123, 8086, 7687). Ports bound to a loopback address (127.0.0.1, ::1) pass.",
			check:       checkDatabasePorts,
		},
		{
			ID: "QL015", Severity: SeverityWarning, Scope: ScopeAll,
			Category:    CategoryReliability,
			Title:       "fixed host port",
			Explanation: "A fixed published host port can be bound once per host: a second instance of the project (another org or env) fails to start.",
			Hint:        "route HTTP through x-quai.routes, or publish without a host port (\"8080\") to get a free one",
			Example:     "services:\n  web:\n    image: example/web:1\n    ports:\n      - \"8080:8080\"",
			Fix:         "services:\n  web:\n    image: example/web:1\n    expose: [\"8080\"]\nx-quai:\n  routes:\n    - service: web\n      port: 8080",
			check:       checkFixedPorts,
		},
		{
			ID: "QL016", Severity: SeverityError, Scope: ScopeProd,
			Category:    CategorySecurity,
			Title:       "plain HTTP route in production",
			Explanation: "A production route with `tls: off` sends sessions and credentials in clear text.",
			Hint:        "use `tls: auto` (ACME) or `tls: custom` with a certificate",
			Example:     "x-quai:\n  routes:\n    - host: shop.example.com\n      service: web\n      port: 8080\n      tls: off",
			Fix:         "x-quai:\n  routes:\n    - host: shop.example.com\n      service: web\n      port: 8080\n      tls: auto",
			check:       checkPlainHTTP,
		},
		{
			ID: "QL017", Severity: SeverityWarning, Scope: ScopeNonDev,
			Category:    CategoryReliability,
			Title:       "bind mount outside the project",
			Explanation: "Outside development, a host path outside the project directory ties the instance to one machine's layout and escapes backups.",
			Hint:        "use a named volume, or keep the file inside the project directory",
			Example:     "services:\n  web:\n    image: example/web:1\n    volumes:\n      - /srv/uploads:/app/uploads",
			Fix:         "services:\n  web:\n    image: example/web:1\n    volumes:\n      - uploads:/app/uploads\nvolumes:\n  uploads:",
			Notes:       "Engine sockets (QL005, QL006) and sensitive host paths (QL007) are reported by their own rules; /etc/localtime and /etc/timezone mounted read-only pass.",
			check:       checkBindOutside,
		},
		{
			ID: "QL018", Severity: SeverityWarning, Scope: ScopeAll,
			Category:    CategoryReliability,
			Title:       "no size or resource limits",
			Explanation: "A service without CPU and memory limits can starve every other instance on the host.",
			Hint:        "set x-quai.size (nano, small, medium, large, xlarge) or deploy.resources.limits",
			Example:     "services:\n  web:\n    image: example/web:1",
			Fix:         "services:\n  web:\n    image: example/web:1\n    x-quai:\n      size: small",
			Notes:       "The limits are the effective ones: deploy.resources.limits when set, else the x-quai.size class.",
			check:       checkLimits,
		},
		{
			ID: "QL019", Severity: SeverityWarning, Scope: ScopeAll,
			Category:    CategoryReliability,
			Title:       "routed service without health check",
			Explanation: "Zero-downtime switchover waits for new replicas to be healthy; without a check, traffic moves to replicas that may not serve yet.",
			Hint:        "set x-quai.health.path (an HTTP path that answers 2xx when ready) or a healthcheck",
			Example:     "services:\n  web:\n    image: example/web:1\nx-quai:\n  routes:\n    - service: web\n      port: 8080",
			Fix:         "services:\n  web:\n    image: example/web:1\n    x-quai:\n      health: { path: /healthz }",
			check:       checkRoutedHealth,
		},
		{
			ID: "QL020", Severity: SeverityWarning, Scope: ScopeAll,
			Category:    CategoryReliability,
			Title:       "health check disabled",
			Explanation: "`healthcheck: disable` hides a dead service from quai, dependants and the proxy.",
			Hint:        "remove `disable: true` / `test: [\"NONE\"]` and give the service a check",
			Example:     "services:\n  worker:\n    image: example/worker:2\n    healthcheck:\n      disable: true",
			Fix:         "services:\n  worker:\n    image: example/worker:2\n    healthcheck:\n      test: [\"CMD\", \"worker\", \"ping\"]",
			check:       checkHealthDisabled,
		},
		{
			ID: "QL021", Severity: SeverityWarning, Scope: ScopeNonDev,
			Category:    CategoryReliability,
			Title:       "stateful service without backup",
			Explanation: "A database, or a service writing to a named volume, loses its data with the host unless it is backed up.",
			Hint:        "add x-quai.backup with a kind (postgres, mysql, redis, volume, files), a schedule and a retention",
			Example:     "services:\n  db:\n    image: postgres:16.4\n    volumes:\n      - pgdata:/var/lib/postgresql/data",
			Fix:         "services:\n  db:\n    image: postgres:16.4\n    volumes:\n      - pgdata:/var/lib/postgresql/data\n    x-quai:\n      backup:\n        kind: postgres\n        schedule: \"@daily\"\n        retention: { keep_daily: 7, keep_weekly: 4 }",
			Notes:       "A service is stateful when it runs a database image (see QL014) or mounts a named volume writable. A volume is covered when another service that mounts it has a volume or files backup; Redis without any volume is taken for a cache and passes.",
			check:       checkBackup,
		},
		{
			ID: "QL022", Severity: SeverityWarning, Scope: ScopeProd,
			Category:    CategoryReliability,
			Title:       "single replica for a routed production service",
			Explanation: "One replica means every host hiccup, crash or failed health check is an outage.",
			Hint:        "set x-quai.replicas: 2 or more",
			Example:     "services:\n  web:\n    image: example/web:1\n    x-quai:\n      replicas: 1",
			Fix:         "services:\n  web:\n    image: example/web:1\n    x-quai:\n      replicas: 2",
			check:       checkSingleReplica,
		},
		{
			ID: "QL023", Severity: SeverityWarning, Scope: ScopeNonDev,
			Category:    CategoryReliability,
			Title:       "no restart policy",
			Explanation: "Without a restart policy a crashed service stays down, and so does everything after a host reboot on the Docker runtime.",
			Hint:        "set `restart: unless-stopped` (or `always`)",
			Example:     "services:\n  web:\n    image: example/web:1",
			Fix:         "services:\n  web:\n    image: example/web:1\n    restart: unless-stopped",
			check:       checkRestart,
		},
		{
			ID: "QL024", Severity: SeverityWarning, Scope: ScopeAll,
			Category:    CategoryReliability,
			Title:       "container_name set",
			Explanation: "A fixed container name allows one container per host: replicas, zero-downtime switchover and a second instance all fail.",
			Hint:        "remove container_name; quai names and labels containers per instance and replica",
			Example:     "services:\n  web:\n    image: example/web:1\n    container_name: web",
			Fix:         "services:\n  web:\n    image: example/web:1",
			check:       checkContainerName,
		},
		{
			ID: "QL025", Severity: SeverityWarning, Scope: ScopeAll,
			Category:    CategoryReliability,
			Title:       "depends on a database without waiting for it",
			Explanation: "`depends_on` without `condition: service_healthy` starts the service as soon as the database process exists, before it accepts connections.",
			Hint:        "use `condition: service_healthy` and give the database a healthcheck (pg_isready, mysqladmin ping, redis-cli ping)",
			Example:     "services:\n  web:\n    image: example/web:1\n    depends_on: [db]",
			Fix:         "services:\n  web:\n    image: example/web:1\n    depends_on:\n      db:\n        condition: service_healthy",
			check:       checkDependsOnDB,
		},
		{
			ID: "QL026", Severity: SeverityError, Scope: ScopeAll,
			Category:    CategoryReliability,
			Title:       "replicated database",
			Explanation: "Replicas of a database image are independent servers (or, sharing a volume, corrupt it); during switchover old and new ones run together.",
			Hint:        "keep the database at one replica (x-quai.replicas: 1) and replicate with the database's own tooling",
			Example:     "services:\n  db:\n    image: postgres:16.4\n    volumes: [pgdata:/var/lib/postgresql/data]\n    x-quai:\n      replicas: 2",
			Fix:         "services:\n  db:\n    image: postgres:16.4\n    volumes: [pgdata:/var/lib/postgresql/data]\n    x-quai:\n      replicas: 1",
			check:       checkReplicatedDB,
		},
		{
			ID: "QL027", Severity: SeverityWarning, Scope: ScopeAll,
			Category:    CategoryReliability,
			Title:       "backup without retention",
			Explanation: "A backup policy that keeps nothing explicit either fills the disk or relies on a default nobody chose.",
			Hint:        "set x-quai.backup.retention (keep_last, keep_daily, keep_weekly, keep_monthly)",
			Example:     "x-quai:\n  backup:\n    kind: postgres\n    schedule: \"@daily\"",
			Fix:         "x-quai:\n  backup:\n    kind: postgres\n    schedule: \"@daily\"\n    retention: { keep_daily: 7, keep_weekly: 4 }",
			check:       checkRetention,
		},
		{
			ID: "QL028", Severity: SeverityWarning, Scope: ScopeAll,
			Category:    CategoryReliability,
			Title:       "backup kind does not match the image",
			Explanation: "A postgres backup of a Redis service (or any mismatched kind) fails every night, or copies files of a running database that will not restore.",
			Hint:        "use the kind of the service's database (postgres, mysql, redis), or volume/files for other data",
			Example:     "services:\n  cache:\n    image: redis:7.4\n    x-quai:\n      backup: { kind: postgres, schedule: \"@daily\" }",
			Fix:         "services:\n  cache:\n    image: redis:7.4\n    x-quai:\n      backup: { kind: redis, schedule: \"@daily\" }",
			check:       checkBackupKind,
		},
		{
			ID: "QL029", Severity: SeverityInfo, Scope: ScopeNonDev,
			Category:    CategoryReliability,
			Title:       "writable root filesystem on a stateless service",
			Explanation: "A stateless service rarely needs to write its root filesystem; making it read-only stops an intruder from dropping tools.",
			Hint:        "set `read_only: true` and mount a tmpfs where the service writes scratch files",
			Example:     "services:\n  web:\n    image: example/web:1",
			Fix:         "services:\n  web:\n    image: example/web:1\n    read_only: true\n    tmpfs: [/tmp]",
			check:       checkReadOnly,
		},
		{
			ID: ruleSuppressNoReason, Severity: SeverityWarning, Scope: ScopeAll, Meta: true,
			Category:    CategorySuppression,
			Title:       "suppression without a reason",
			Explanation: "A silenced rule without a reason cannot be reviewed or revisited.",
			Hint:        "add `reason:` saying why the rule does not apply and where it is tracked",
			Example:     "services:\n  web:\n    x-quai:\n      lint:\n        ignore:\n          - rule: QL012",
			Fix:         "services:\n  web:\n    x-quai:\n      lint:\n        ignore:\n          - rule: QL012\n            reason: \"the image drops to uid 101 itself; checked in OPS-42\"",
		},
		{
			ID: ruleSuppressUnknown, Severity: SeverityWarning, Scope: ScopeAll, Meta: true,
			Category:    CategorySuppression,
			Title:       "suppression of an unknown rule",
			Explanation: "An ignore entry for a rule that does not exist (a typo, or a suppression rule) silences nothing.",
			Hint:        "use an ID listed by `quai lint --rules`",
			Example:     "services:\n  web:\n    x-quai:\n      lint:\n        ignore:\n          - rule: QL12\n            reason: legacy image",
			Fix:         "services:\n  web:\n    x-quai:\n      lint:\n        ignore:\n          - rule: QL012\n            reason: legacy image",
		},
		{
			ID: ruleSuppressUnused, Severity: SeverityInfo, Scope: ScopeAll, Meta: true,
			Category:    CategorySuppression,
			Title:       "unused suppression",
			Explanation: "A suppression that silences nothing in this environment is stale and would hide the next real finding.",
			Hint:        "remove the ignore entry",
			Example:     "services:\n  web:\n    image: example/web:1\n    user: \"1000\"\n    x-quai:\n      lint:\n        ignore:\n          - rule: QL012\n            reason: legacy image",
			Fix:         "services:\n  web:\n    image: example/web:1\n    user: \"1000\"",
		},
		{
			ID: stack.RuleHostPaths, Severity: SeverityError, Scope: ScopeAll,
			Category:    CategorySecurity,
			Title:       "host paths allowed outside the project",
			Explanation: "Each x-quai.allow_host_paths entry lets the stack's env files, secrets, certificates, build contexts and bind mounts name files outside the project directory, which quai and its daemon then read with their own rights (a host's /etc, another project's secrets).",
			Hint:        "move the files into the project directory and remove the entry; if the host path is intended, deploy with `quai up --allow " + stack.RuleHostPaths + "`",
			Example:     "x-quai:\n  allow_host_paths: [/srv/sync]\nservices:\n  sync:\n    image: syncthing/syncthing:1.27\n    volumes: [\"/srv/sync:/data\"]",
			Fix:         "services:\n  sync:\n    image: syncthing/syncthing:1.27\n    volumes: [\"data:/data\"]\nvolumes:\n  data: {}",
			check:       checkAllowHostPaths,
		},
		{
			ID: "QL034", Severity: SeverityWarning, Scope: ScopeNonDev,
			Category:    CategorySecurity,
			Title:       "insecure image registry",
			Explanation: "A registry reached without a verified certificate (or without TLS) lets anyone on the path read the registry credentials quai pushes and pulls with; digest pins keep the images' content honest, not the credentials secret.",
			Hint:        "give the registry a certificate the Docker Engine and the cluster trust (/etc/docker/certs.d/<host>/ca.crt, containerd certs.d) and remove `insecure: true`",
			Example:     "x-quai:\n  registry: { url: registry.example.com:5000/shop, insecure: true }",
			Fix:         "x-quai:\n  registry: { url: registry.example.com/shop }",
			check:       checkInsecureRegistry,
		},
		{
			ID: RuleRuntimeIgnores, Severity: SeverityWarning, Scope: ScopeAll,
			Category:    CategoryReliability,
			Title:       "setting the runtime ignores or changes",
			Explanation: "A setting the runtime does not honour as written gives a false sense of safety: a read_only or cap_drop that protects nothing, a limit that is not enforced, a postgres:16 that runs as the host's PostgreSQL 15.",
			Hint:        "deploy with a runtime that honours the setting (--runtime docker), or accept the difference and suppress with the reason",
			Example:     "# quai lint --runtime process\nservices:\n  api:\n    image: example/api:1\n    read_only: true\n    x-quai:\n      process: { command: [./bin/api] }",
			Fix:         "# quai lint --runtime docker\nservices:\n  api:\n    image: example/api:1\n    read_only: true",
			Notes:       "Checked only with `quai lint --runtime RUNTIME`, which asks the daemon what that runtime will do with the stack on its host: the same list `quai up` and `quai up --dry-run` print under the plan. The process runtime, for instance, has no containers: it ignores read_only, cap_drop and cap_add (a non-root `user:` holds no capabilities anyway), network_mode, pid and ipc; enforces limits only where cgroup v2 delegates memory and cpu; binds no published port; and runs postgres, mysql, mariadb and redis images from the host's servers, whose versions it names. docs/runtimes.md lists what each runtime supports.",
			check:       checkRuntime(RuleRuntimeIgnores, false),
		},
		{
			ID: RuleRuntimeRefuses, Severity: SeverityError, Scope: ScopeAll,
			Category:    CategoryReliability,
			Title:       "service the runtime cannot run",
			Explanation: "The runtime cannot run the service at all (an image without x-quai.process.command on the process runtime, a user: the daemon cannot switch to, a database server the host lacks); quai up refuses the deploy before anything starts.",
			Hint:        "do what the message says (add x-quai.process.command, install the server), or deploy with another runtime",
			Example:     "# quai lint --runtime process\nservices:\n  cache:\n    image: valkey/valkey:8",
			Fix:         "# quai lint --runtime process\nservices:\n  cache:\n    image: valkey/valkey:8\n    x-quai:\n      process: { command: [valkey-server, --port, \"$PORT\"] }",
			Notes:       "Checked only with `quai lint --runtime RUNTIME` (see QL035).",
			check:       checkRuntime(RuleRuntimeRefuses, true),
		},
		{
			ID: "QL037", Severity: SeverityError, Scope: ScopeAll,
			Category:    CategorySecurity,
			Title:       "login over plain HTTP",
			Explanation: "A route with `basic_auth` or `forward_auth` and `tls: off` sends passwords, session cookies and tokens in clear text to anyone on the path, in every environment; a login is exactly what TLS is for.",
			Hint:        "use `tls: auto` (a local CA for *.localhost, ACME otherwise) or `tls: custom`",
			Example:     "x-quai:\n  routes:\n    - host: admin.example.com\n      service: web\n      port: 8080\n      tls: off\n      basic_auth: { users_secret: admin_users }",
			Fix:         "x-quai:\n  routes:\n    - host: admin.example.com\n      service: web\n      port: 8080\n      basic_auth: { users_secret: admin_users }",
			check:       checkLoginOverHTTP,
		},
	}
}

// IDs of the rules that report what a runtime said of the stack
// (Options.Runtime).
const (
	RuleRuntimeIgnores = "QL035"
	RuleRuntimeRefuses = "QL036"
)

// checkRuntime reports the runtime's findings: its refusals, or the rest.
func checkRuntime(id string, refusals bool) func(*checker) {
	return func(c *checker) {
		for _, n := range c.opts.Runtime {
			if (n.Verdict == RuntimeRefuse) != refusals {
				continue
			}
			var pos stack.Position
			if n.Service != "" {
				pos = c.pos(n.Service, n.Setting)
			}
			switch {
			case refusals && n.Service != "":
				c.report(n.Service, pos, "the %s runtime cannot run service %q (%s): %s", c.opts.RuntimeName, n.Service, n.Setting, n.Message)
			case refusals:
				c.report("", pos, "the %s runtime cannot run the stack (%s): %s", c.opts.RuntimeName, n.Setting, n.Message)
			case n.Service != "":
				c.report(n.Service, pos, "the %s runtime will %s %s of service %q: %s", c.opts.RuntimeName, n.Verdict, n.Setting, n.Service, n.Message)
			default:
				c.report("", pos, "the %s runtime will %s %s: %s", c.opts.RuntimeName, n.Verdict, n.Setting, n.Message)
			}
		}
	}
}

func checkInsecureRegistry(c *checker) {
	if r := c.m.Registry; r != nil && r.Insecure {
		c.report("", c.m.Pos(stack.Extension+".registry.insecure"), "the image registry %s is marked insecure", r.URL)
	}
}

func checkAllowHostPaths(c *checker) {
	for i, p := range c.m.AllowHostPaths {
		c.report("", c.m.Pos(fmt.Sprintf("%s.allow_host_paths.%d", stack.Extension, i)), "the stack may read and mount host files under %s, outside the project directory", p)
	}
}

func checkPrivileged(c *checker) {
	for _, s := range c.m.Services {
		if s.Privileged {
			c.report(s.Name, c.pos(s.Name, "privileged"), "service %q runs privileged", s.Name)
		}
	}
}

func checkHostNS(key string, get func(*stack.Service) string, what string) func(*checker) {
	return func(c *checker) {
		for _, s := range c.m.Services {
			if strings.EqualFold(get(s), "host") {
				c.report(s.Name, c.pos(s.Name, key), "service %q shares the host %s namespace", s.Name, what)
			}
		}
	}
}

// engineSocket reports whether a host path is a container engine's API socket.
func engineSocket(path string) bool {
	switch filepath.Base(path) {
	case "docker.sock", "podman.sock", "containerd.sock", "crio.sock", "dockershim.sock":
		return true
	}
	return false
}

// mountPos is the position of a service's i-th mount in its volumes list.
func (c *checker) mountPos(s *stack.Service, i int) stack.Position {
	return c.pos(s.Name, fmt.Sprintf("volumes.%d", i))
}

func checkEngineSocket(readOnly bool) func(*checker) {
	return func(c *checker) {
		for _, s := range c.m.Services {
			for i, mt := range s.Mounts {
				if mt.Type != stack.MountBind || !engineSocket(mt.Source) || mt.ReadOnly != readOnly {
					continue
				}
				if readOnly {
					c.report(s.Name, c.mountPos(s, i), "service %q mounts the engine socket %s read-only, which still grants the full API", s.Name, mt.Source)
				} else {
					c.report(s.Name, c.mountPos(s, i), "service %q mounts the engine socket %s writable", s.Name, mt.Source)
				}
			}
		}
	}
}

// sensitivePath reports whether a host path must not be mounted: a whole
// system directory (files below some, like /etc/localtime, are fine), or
// anything in a tree that holds host secrets or control.
func sensitivePath(p string) bool {
	p = filepath.Clean(p)
	switch p {
	case "/", "/etc", "/root", "/home", "/var", "/usr", "/boot", "/run", "/var/run", "/lib", "/bin", "/sbin":
		return true
	}
	for _, pre := range [...]string{"/proc", "/sys", "/dev", "/var/lib/docker", "/var/lib/containerd", "/var/lib/kubelet", "/etc/kubernetes", "/etc/ssh", "/etc/shadow", "/etc/sudoers", "/root/.ssh"} {
		if p == pre || strings.HasPrefix(p, pre+"/") {
			return true
		}
	}
	return false
}

func checkSensitiveMount(c *checker) {
	for _, s := range c.m.Services {
		for i, mt := range s.Mounts {
			if mt.Type == stack.MountBind && !engineSocket(mt.Source) && sensitivePath(mt.Source) {
				c.report(s.Name, c.mountPos(s, i), "service %q mounts the host path %s", s.Name, mt.Source)
			}
		}
	}
}

// dangerousCap reports whether a capability amounts to (nearly) full host
// control.
func dangerousCap(cp string) bool {
	switch cp {
	case "ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE", "SYS_RAWIO", "SYS_BOOT", "SYS_TIME",
		"DAC_READ_SEARCH", "NET_ADMIN", "BPF", "PERFMON", "MAC_ADMIN", "MAC_OVERRIDE":
		return true
	}
	return false
}

func normCap(cp string) string {
	return strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(cp)), "CAP_")
}

func checkCapabilities(dangerous bool) func(*checker) {
	return func(c *checker) {
		for _, s := range c.m.Services {
			for i, cp := range s.CapAdd {
				if dangerousCap(normCap(cp)) != dangerous {
					continue
				}
				c.report(s.Name, c.pos(s.Name, fmt.Sprintf("cap_add.%d", i)), "service %q adds capability %s", s.Name, normCap(cp))
			}
		}
	}
}

func checkImageTag(c *checker) {
	for _, s := range c.m.Services {
		if s.Image == "" || s.Build != nil {
			// Built images are named by the build; their tag is quai's to set.
			continue
		}
		tag, digest := imageTag(s.Image)
		switch {
		case digest:
		case tag == "":
			c.report(s.Name, c.pos(s.Name, "image"), "service %q uses image %s without a tag (implicitly latest)", s.Name, s.Image)
		case strings.EqualFold(tag, "latest"):
			c.report(s.Name, c.pos(s.Name, "image"), "service %q uses image %s tagged latest", s.Name, s.Image)
		}
	}
}

// secretKey matches variable names that hold credentials.
var secretKey = regexp.MustCompile(`(?i)(PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|AUTH_?KEY|SIGNING_?KEY|ENCRYPTION_?KEY|CREDENTIALS?|(^|_)PASS$|(^|_)PWD$|(^|_)KEY$)`)

// notSecretKey matches names that look like secrets but hold where the secret
// is, or who it belongs to.
var notSecretKey = regexp.MustCompile(`(?i)(_FILE|_PATH|_DIR|_ID|_USER|_USERNAME|_NAME|_URL|_URI|_HOST|_PORT|_LENGTH|_TTL|_EXPIRY|_HEADER|_ALGORITHM)$`)

// envRaw returns how an environment variable was written: the raw value from
// Sources when known, the model value when no Sources were given. ok is false
// when Sources exist but no stack file sets the variable (it came from an
// env_file or the loader), which lint cannot judge.
func (c *checker) envRaw(service, key, value string) (raw string, ok bool) {
	if c.opts.Sources == nil {
		return value, true
	}
	return c.opts.Sources.Env(service, key)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func checkSecretLiterals(c *checker) {
	for _, s := range c.m.Services {
		for _, k := range sortedKeys(s.Environment) {
			v := s.Environment[k]
			if v == "" || !secretKey.MatchString(k) || notSecretKey.MatchString(k) || strings.HasPrefix(v, "/run/secrets/") {
				continue
			}
			raw, ok := c.envRaw(s.Name, k, v)
			if !ok || raw == "" {
				continue
			}
			pos := c.pos(s.Name, "environment."+k)
			if !interpolated(raw) {
				c.report(s.Name, pos, "service %q sets %s to a literal value in the stack file", s.Name, k)
				continue
			}
			if masked, defaults := scanRaw(raw); literalDefault(masked, defaults) {
				c.reportHint(s.Name, pos, "seal it instead: `quai secrets set DIR --env ENV NAME` and x-quai.secret_env, or write ${VAR:?VAR must be set} so that a missing variable stops the deploy instead of using the default",
					"service %q sets %s from a variable with a literal default, used whenever the variable is unset", s.Name, k)
			}
		}
	}
}

// urlPassword returns the password of a scheme://user:password@host URL, if
// the value is one and has a non-empty password.
func urlPassword(v string) (string, bool) {
	_, rest, ok := strings.Cut(v, "://")
	if !ok {
		return "", false
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return "", false
	}
	_, pw, ok := strings.Cut(rest[:at], ":")
	return pw, ok && pw != ""
}

func checkURLPasswords(c *checker) {
	for _, s := range c.m.Services {
		for _, k := range sortedKeys(s.Environment) {
			if _, ok := urlPassword(s.Environment[k]); !ok {
				continue
			}
			raw, ok := c.envRaw(s.Name, k, s.Environment[k])
			if !ok {
				continue
			}
			masked, defaults := scanRaw(raw)
			pw, ok := urlPassword(masked)
			switch {
			case !ok:
			case !interpolated(pw):
				c.report(s.Name, c.pos(s.Name, "environment."+k), "service %q sets %s to a URL with a literal password", s.Name, k)
			case literalDefault(pw, defaults):
				c.reportHint(s.Name, c.pos(s.Name, "environment."+k), "write the password as ${VAR:?VAR must be set} so that a missing variable stops the deploy",
					"service %q sets %s to a URL whose password falls back to a literal default when its variable is unset", s.Name, k)
			}
		}
	}
}

// fixedHostPort reports whether a published value names a fixed host port.
func fixedHostPort(published string) bool {
	return published != "" && published != "0"
}

func loopback(ip string) bool {
	return ip == "localhost" || strings.HasPrefix(ip, "127.") || ip == "::1" || ip == "[::1]"
}

func checkDatabasePorts(c *checker) {
	for _, s := range c.m.Services {
		family := dbFamily(s)
		for i, p := range s.Ports {
			if loopback(p.HostIP) {
				continue
			}
			what := dbPort(p.Target)
			switch {
			case family != "":
				c.report(s.Name, c.pos(s.Name, fmt.Sprintf("ports.%d", i)), "service %q publishes database port %d on all host interfaces", s.Name, p.Target)
			case what != "":
				c.report(s.Name, c.pos(s.Name, fmt.Sprintf("ports.%d", i)), "service %q publishes port %d (%s) on all host interfaces", s.Name, p.Target, what)
			}
		}
	}
}

func checkFixedPorts(c *checker) {
	for _, s := range c.m.Services {
		for i, p := range s.Ports {
			if fixedHostPort(p.Published) {
				c.report(s.Name, c.pos(s.Name, fmt.Sprintf("ports.%d", i)), "service %q publishes fixed host port %s; a second instance on this host cannot bind it", s.Name, p.Published)
			}
		}
	}
}

func checkPlainHTTP(c *checker) {
	for _, r := range c.m.Routes {
		if r.TLS == stack.TLSOff {
			c.report(r.Service, r.Pos, "route %s%s to service %q is plain HTTP (tls: off) in %s", r.Host, r.Path, r.Service, c.m.Identity.Env)
		}
	}
}

func checkLoginOverHTTP(c *checker) {
	for _, r := range c.m.Routes {
		if r.TLS != stack.TLSOff || r.Rules == nil {
			continue
		}
		switch {
		case r.Rules.BasicAuth != nil:
			c.report(r.Service, r.Pos, "route %s%s asks for a password (basic_auth) over plain HTTP (tls: off)", r.Host, r.Path)
		case r.Rules.ForwardAuth != nil:
			c.report(r.Service, r.Pos, "route %s%s sends its login (forward_auth) over plain HTTP (tls: off)", r.Host, r.Path)
		}
	}
}

// insideDir reports whether path is dir or below it.
func insideDir(dir, path string) bool {
	if dir == "" {
		return false
	}
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// showPath prints a host path near the project relative to it ("../shared"),
// so that reports do not depend on where the project is checked out, and
// other paths as they are.
func showPath(dir, path string) string {
	rel, err := filepath.Rel(dir, path)
	if err != nil || dir == "" || strings.Count(rel, "..") > 2 {
		return path
	}
	return rel
}

// hostClockFile reports whether a host path is one of the files commonly
// mounted read-only to share the host's clock and zone; they do not tie an
// instance to a machine.
func hostClockFile(p string) bool {
	p = filepath.Clean(p)
	return p == "/etc/localtime" || p == "/etc/timezone"
}

func checkBindOutside(c *checker) {
	for _, s := range c.m.Services {
		for i, mt := range s.Mounts {
			if mt.Type != stack.MountBind || engineSocket(mt.Source) || sensitivePath(mt.Source) || insideDir(c.m.Dir, mt.Source) {
				continue
			}
			if mt.ReadOnly && hostClockFile(mt.Source) {
				continue
			}
			c.report(s.Name, c.mountPos(s, i), "service %q bind-mounts %s, outside the project directory, in %s", s.Name, showPath(c.m.Dir, mt.Source), c.m.Identity.Env)
		}
	}
}

func checkLimits(c *checker) {
	for _, s := range c.m.Services {
		r := s.Resources
		var missing []string
		if r.MilliCPU == 0 {
			missing = append(missing, "CPU")
		}
		if r.MemoryBytes == 0 {
			missing = append(missing, "memory")
		}
		if len(missing) == 0 {
			continue
		}
		pos := c.keyPos(s.Name, "deploy.resources.limits", "deploy.resources", "x-quai.size")
		c.report(s.Name, pos, "service %q has no %s limit", s.Name, strings.Join(missing, " or "))
	}
}

func checkRoutedHealth(c *checker) {
	r := routed(c.m)
	for _, s := range c.m.Services {
		if !r[s.Name] || s.HealthPath != "" || hasHealthcheck(s) {
			continue
		}
		c.report(s.Name, c.keyPos(s.Name, "healthcheck"), "routed service %q has neither x-quai.health.path nor a healthcheck", s.Name)
	}
}

func checkHealthDisabled(c *checker) {
	r := routed(c.m)
	for _, s := range c.m.Services {
		if !healthcheckOff(s.Healthcheck) {
			continue
		}
		if r[s.Name] && s.HealthPath == "" {
			// QL019 reports routed services without any check.
			continue
		}
		c.report(s.Name, c.keyPos(s.Name, "healthcheck.disable", "healthcheck.test", "healthcheck"), "service %q disables its healthcheck", s.Name)
	}
}

// backedUpVolumes returns the named volumes that some service's volume or
// files backup covers, because that service mounts them.
func backedUpVolumes(m *stack.Model) map[string]bool {
	out := map[string]bool{}
	for _, s := range m.Services {
		if s.Backup == nil || (s.Backup.Kind != stack.BackupVolume && s.Backup.Kind != stack.BackupFiles) {
			continue
		}
		for _, mt := range s.Mounts {
			if mt.Type == stack.MountVolume {
				out[mt.Source] = true
			}
		}
	}
	return out
}

func checkBackup(c *checker) {
	covered := backedUpVolumes(c.m)
	for _, s := range c.m.Services {
		if s.Backup != nil {
			continue
		}
		family := dbFamily(s)
		var uncovered []string
		for _, v := range rwVolumes(s) {
			if !covered[v.Source] {
				uncovered = append(uncovered, v.Source)
			}
		}
		switch {
		case family == familyRedis && len(s.Mounts) == 0:
			// Redis without a volume is a cache: nothing to restore.
		case family != "":
			c.report(s.Name, c.pos(s.Name, ""), "database service %q (%s) has no x-quai.backup policy", s.Name, imageRepo(s.Image))
		case len(uncovered) > 0:
			c.report(s.Name, c.pos(s.Name, ""), "service %q writes volume %s but has no x-quai.backup policy", s.Name, strings.Join(uncovered, ", "))
		}
	}
}

func checkSingleReplica(c *checker) {
	r := routed(c.m)
	for _, s := range c.m.Services {
		if !r[s.Name] || s.Replicas > 1 || dbFamily(s) != "" {
			continue
		}
		c.report(s.Name, c.keyPos(s.Name, "x-quai.replicas", "deploy.replicas"), "routed service %q runs a single replica in %s", s.Name, c.m.Identity.Env)
	}
}

func checkRestart(c *checker) {
	for _, s := range c.m.Services {
		if s.Restart == "" || s.Restart == "no" {
			c.report(s.Name, c.keyPos(s.Name, "restart"), "service %q has no restart policy", s.Name)
		}
	}
}

func checkContainerName(c *checker) {
	for _, s := range c.m.Services {
		if s.ContainerName != "" {
			c.report(s.Name, c.pos(s.Name, "container_name"), "service %q sets container_name %q", s.Name, s.ContainerName)
		}
	}
}

func checkDependsOnDB(c *checker) {
	for _, s := range c.m.Services {
		for i, d := range s.DependsOn {
			dep := c.m.Service(d.Service)
			if dep == nil || dbFamily(dep) == "" || d.Condition == stack.ConditionHealthy {
				continue
			}
			cond := cmp.Or(d.Condition, stack.ConditionStarted)
			pos := c.keyPos(s.Name, "depends_on."+d.Service, fmt.Sprintf("depends_on.%d", i), "depends_on")
			c.report(s.Name, pos, "service %q depends on database %q with condition %s", s.Name, d.Service, cond)
		}
	}
}

func checkReplicatedDB(c *checker) {
	for _, s := range c.m.Services {
		if s.Replicas <= 1 || dbFamily(s) == "" {
			continue
		}
		c.report(s.Name, c.keyPos(s.Name, "x-quai.replicas", "deploy.replicas"), "database service %q (%s) runs %d replicas", s.Name, imageRepo(s.Image), s.Replicas)
	}
}

func checkRetention(c *checker) {
	for _, s := range c.m.Services {
		if s.Backup == nil {
			continue
		}
		if (s.Backup.Retention == stack.Retention{}) {
			c.report(s.Name, c.pos(s.Name, "x-quai.backup"), "backup of service %q keeps no explicit number of backups", s.Name)
		}
	}
}

func checkBackupKind(c *checker) {
	for _, s := range c.m.Services {
		if s.Backup == nil {
			continue
		}
		kind := s.Backup.Kind
		if kind == stack.BackupVolume || kind == stack.BackupFiles {
			continue
		}
		family := dbFamily(s)
		if backupKind(family) == kind {
			continue
		}
		pos := c.pos(s.Name, "x-quai.backup.kind")
		if family == "" {
			c.report(s.Name, pos, "backup of service %q is kind %s, but its image %s is not a %s database", s.Name, kind, s.Image, kind)
			continue
		}
		c.report(s.Name, pos, "backup of service %q is kind %s, but its image %s is %s", s.Name, kind, s.Image, family)
	}
}

func checkReadOnly(c *checker) {
	for _, s := range c.m.Services {
		if s.ReadOnly || stateful(s) {
			continue
		}
		c.report(s.Name, c.keyPos(s.Name, "read_only"), "stateless service %q has a writable root filesystem", s.Name)
	}
}

// rootUser reports whether a Compose user value means root.
func rootUser(u string) bool {
	name, _, _ := strings.Cut(strings.TrimSpace(u), ":")
	return name == "root" || name == "0"
}

func checkRootUser(c *checker) {
	for _, s := range c.m.Services {
		switch {
		case s.User != "" && !rootUser(s.User):
			continue
		case s.User == "" && dbFamily(s) != "":
			// Official database images start as root only to fix ownership of
			// the data directory, then drop to their own user.
			continue
		case s.User == "" && s.Build != nil:
			c.report(s.Name, c.pos(s.Name, ""), "service %q sets no user; unless its Dockerfile sets USER it runs as root", s.Name)
		case s.User == "":
			c.report(s.Name, c.pos(s.Name, ""), "service %q sets no user and runs as the image's default, usually root", s.Name)
		default:
			c.report(s.Name, c.pos(s.Name, "user"), "service %q runs as root (user %q)", s.Name, s.User)
		}
	}
}
