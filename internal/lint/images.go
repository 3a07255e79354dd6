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

// dbImages maps an image's repository name (last path element) to its
// database family.
var dbImages = map[string]string{
	"postgres": familyPostgres, "postgresql": familyPostgres, "postgis": familyPostgres,
	"timescaledb": familyPostgres, "timescaledb-ha": familyPostgres, "pgvector": familyPostgres,
	"mysql": familyMySQL, "mysql-server": familyMySQL, "mariadb": familyMySQL,
	"percona": familyMySQL, "percona-server": familyMySQL,
	"redis": familyRedis, "redis-stack": familyRedis, "redis-stack-server": familyRedis,
	"valkey": familyRedis, "keydb": familyRedis,
	"mongo": familyMongo, "mongodb": familyMongo, "mongodb-community-server": familyMongo,
	"couchdb": familyOther, "cassandra": familyOther, "elasticsearch": familyOther,
	"opensearch": familyOther, "clickhouse-server": familyOther, "influxdb": familyOther,
	"neo4j": familyOther,
}

// dbPorts are the well-known container ports of databases.
var dbPorts = map[int]string{
	5432: "PostgreSQL", 3306: "MySQL", 33060: "MySQL X", 6379: "Redis",
	27017: "MongoDB", 5984: "CouchDB", 9042: "Cassandra", 9200: "Elasticsearch",
	8123: "ClickHouse", 8086: "InfluxDB", 7687: "Neo4j",
}

// backupKinds maps a database family to the backup kind that dumps it
// consistently.
var backupKinds = map[string]string{
	familyPostgres: stack.BackupPostgres,
	familyMySQL:    stack.BackupMySQL,
	familyRedis:    stack.BackupRedis,
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
	return dbImages[imageRepo(s.Image)]
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
