package lint

import (
	"strings"

	"github.com/quai-dev/quai/internal/stack"
)

// Database families, as far as lint cares: which backup kind fits and which
// ports they listen on.
const (
	familyPostgres = "postgres"
	familyMySQL    = "mysql"
	familyRedis    = "redis"
	familyMongo    = "mongo"
	familyOther    = "database"
)

// imageFamily maps an image's repository name (last path element) to its
// database family, "" for everything else.
func imageFamily(repo string) string {
	switch repo {
	case "postgres", "postgresql", "postgis", "timescaledb", "timescaledb-ha", "pgvector":
		return familyPostgres
	case "mysql", "mysql-server", "mariadb", "percona", "percona-server":
		return familyMySQL
	case "redis", "redis-stack", "redis-stack-server", "valkey", "keydb":
		return familyRedis
	case "mongo", "mongodb", "mongodb-community-server":
		return familyMongo
	case "couchdb", "cassandra", "elasticsearch", "opensearch", "clickhouse-server", "influxdb", "neo4j":
		return familyOther
	}
	return ""
}

// dbPort names the database behind a well-known container port, "" for
// other ports.
func dbPort(port int) string {
	switch port {
	case 5432:
		return "PostgreSQL"
	case 3306, 33060:
		return "MySQL"
	case 6379:
		return "Redis"
	case 27017:
		return "MongoDB"
	case 5984:
		return "CouchDB"
	case 9042:
		return "Cassandra"
	case 9200:
		return "Elasticsearch"
	case 8123:
		return "ClickHouse"
	case 8086:
		return "InfluxDB"
	case 7687:
		return "Neo4j"
	}
	return ""
}

// backupKind is the backup kind that dumps a database family consistently,
// "" when quai has no dump for it.
func backupKind(family string) string {
	switch family {
	case familyPostgres:
		return stack.BackupPostgres
	case familyMySQL:
		return stack.BackupMySQL
	case familyRedis:
		return stack.BackupRedis
	}
	return ""
}

// imageRepo returns the last path element of an image reference without tag
// or digest, lowercased: "docker.io/library/postgres:16" → "postgres".
func imageRepo(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	name := ref[strings.LastIndexByte(ref, '/')+1:]
	name, _, _ = strings.Cut(name, ":")
	return strings.ToLower(name)
}

// imageTag returns the tag of an image reference ("" when absent) and whether
// the reference is pinned by digest. A colon before the last slash belongs to
// a registry port, not a tag.
func imageTag(ref string) (tag string, digest bool) {
	if strings.Contains(ref, "@") {
		return "", true
	}
	last := ref[strings.LastIndexByte(ref, '/')+1:]
	if i := strings.LastIndexByte(last, ':'); i >= 0 {
		return last[i+1:], false
	}
	return "", false
}

// dbFamily returns the database family of a service's image, or "".
func dbFamily(s *stack.Service) string {
	if s.Image == "" {
		return ""
	}
	return imageFamily(imageRepo(s.Image))
}

// rwVolumes returns the service's writable named-volume mounts.
func rwVolumes(s *stack.Service) []stack.Mount {
	var out []stack.Mount
	for _, mt := range s.Mounts {
		if mt.Type == stack.MountVolume && !mt.ReadOnly {
			out = append(out, mt)
		}
	}
	return out
}

// stateful reports whether a service keeps data: a database image or a
// writable named volume.
func stateful(s *stack.Service) bool {
	return dbFamily(s) != "" || len(rwVolumes(s)) > 0
}

// routed returns the set of services that have a public route.
func routed(m *stack.Model) map[string]bool {
	out := map[string]bool{}
	for _, r := range m.Routes {
		out[r.Service] = true
	}
	return out
}

// healthcheckOff reports whether a command health check is explicitly
// disabled.
func healthcheckOff(h *stack.Healthcheck) bool {
	return h != nil && (h.Disable || (len(h.Test) > 0 && strings.EqualFold(h.Test[0], "NONE")))
}

// hasHealthcheck reports whether a service declares a command health check
// that is not disabled. A healthcheck without test keeps the image's own
// HEALTHCHECK, which counts.
func hasHealthcheck(s *stack.Service) bool {
	return s.Healthcheck != nil && !healthcheckOff(s.Healthcheck)
}
