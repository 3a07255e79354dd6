// Package dumptest is test support for backups of real databases: the
// data each kind's round trip fills, changes and compares, and the round
// trip itself, shared by the tests of every runtime.
package dumptest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/backup/dump"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// CI reports whether the tests run in CI, where a missing tool fails.
func CI() bool { return os.Getenv("CI") == "true" }

// SkipOrFail skips the test, or fails it in CI.
func SkipOrFail(t *testing.T, msg string) {
	t.Helper()
	if CI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Sh runs a shell script beside the service and returns its output,
// failing the test when it fails.
func Sh(t *testing.T, ex dump.Exec, script string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code, err := ex(ctx, append([]string{"sh", "-c", script, "sh"}, args...), nil, &out, &errb)
	if err != nil || code != 0 {
		t.Fatalf("%s: exit %d, %v: %s", script, code, err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

// PgSQL runs q with psql as the stack's user.
func PgSQL(t *testing.T, ex dump.Exec, q string) string {
	t.Helper()
	return Sh(t, ex, `psql -X -q -A -t -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$1"`, q)
}

// MariaSQL runs q with mariadb as root in the stack's database.
func MariaSQL(t *testing.T, ex dump.Exec, q string) string {
	t.Helper()
	return Sh(t, ex, `MYSQL_PWD=$MARIADB_ROOT_PASSWORD mariadb -uroot ${MYSQL_UNIX_PORT:+--socket=$MYSQL_UNIX_PORT} -N -B -D "$MARIADB_DATABASE" -e "$1"`, q)
}

// RedisCmd runs redis-cli with args.
func RedisCmd(t *testing.T, ex dump.Exec, args ...string) string {
	t.Helper()
	return Sh(t, ex, `exec redis-cli -p "${PORT:-6379}" "$@"`, args...)
}

// WaitHealthy waits until replica h of rt passes its health check.
func WaitHealthy(t *testing.T, rt runtime.Runtime, h runtime.Handle) {
	t.Helper()
	rr, ok := rt.(runtime.ReplicaRunner)
	if !ok {
		return
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := rr.Inspect(context.Background(), h)
		if err == nil && st.Healthy() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s is not healthy: %+v %v", h.Replica, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Case is a database the round trip runs against.
type Case struct {
	kind string
	// fill creates the data, change changes it after the dump, and state
	// returns what must be the same after the restore as before the
	// change (a digest of the contents).
	fill, change func(t *testing.T, ex dump.Exec)
	state        func(t *testing.T, ex dump.Exec) string
	// tables are the counts Check must report.
	tables map[string]int64
	// magic is in the first 256 bytes of every good dump.
	magic string
}

// Postgres is a PostgreSQL database with two schemas and a quoted table name.
var Postgres = Case{
	kind: stack.BackupPostgres,
	fill: func(t *testing.T, ex dump.Exec) {
		PgSQL(t, ex, `CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 1000) g;
CREATE SCHEMA shop; CREATE TABLE shop."Orders" (id serial PRIMARY KEY, item int REFERENCES items(id));
INSERT INTO shop."Orders" (item) VALUES (1), (2), (3)`)
	},
	change: func(t *testing.T, ex dump.Exec) {
		PgSQL(t, ex, `DELETE FROM shop."Orders"; DELETE FROM items WHERE id > 500; UPDATE items SET name = 'changed'; DROP SCHEMA shop CASCADE`)
	},
	state: func(t *testing.T, ex dump.Exec) string {
		return PgSQL(t, ex, `SELECT (SELECT md5(string_agg(id || name, ',' ORDER BY id)) FROM items) || CASE WHEN to_regclass('shop."Orders"') IS NULL THEN 'gone' ELSE (xpath('/row/s/text()', query_to_xml('SELECT string_agg(item::text, '','' ORDER BY id) AS s FROM shop."Orders"', false, true, '')))[1]::text END`)
	},
	tables: map[string]int64{"public.items": 1000, `shop.Orders`: 3},
	magic:  "PGDMP",
}

// MariaDB is a MariaDB database with a quoted table name and a trigger.
var MariaDB = Case{
	kind: stack.BackupMySQL,
	fill: func(t *testing.T, ex dump.Exec) {
		MariaSQL(t, ex, "CREATE TABLE items (id int PRIMARY KEY, name varchar(50) NOT NULL) ENGINE=InnoDB;"+
			"INSERT INTO items SELECT seq, CONCAT('item ', seq) FROM seq_1_to_1000;"+
			"CREATE TABLE `odd``name` (id int PRIMARY KEY, note text);"+
			"INSERT INTO `odd``name` VALUES (1, 'a'), (2, 'b');"+
			"CREATE TRIGGER upper_note BEFORE INSERT ON `odd``name` FOR EACH ROW SET NEW.note = UPPER(NEW.note)")
	},
	change: func(t *testing.T, ex dump.Exec) {
		MariaSQL(t, ex, "DELETE FROM items WHERE id > 500; UPDATE items SET name = 'changed'; DELETE FROM `odd``name`; DROP TRIGGER upper_note; CREATE TABLE made_since (id int)")
	},
	state: func(t *testing.T, ex dump.Exec) string {
		return MariaSQL(t, ex, "SELECT (SELECT MD5(GROUP_CONCAT(id, name ORDER BY id)) FROM items), (SELECT GROUP_CONCAT(note ORDER BY id) FROM `odd``name`),"+
			" (SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()), (SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = DATABASE())")
	},
	tables: map[string]int64{"shop.items": 1000, "shop.odd`name": 2},
	magic:  "-- MariaDB dump",
}

// Redis is a Redis server with strings, a list, a hash and two databases.
var Redis = Case{
	kind: stack.BackupRedis,
	fill: func(t *testing.T, ex dump.Exec) {
		Sh(t, ex, `p=${PORT:-6379}; i=0; while [ $i -lt 200 ]; do echo "SET key:$i value-$i"; i=$((i+1)); done | redis-cli -p $p >/dev/null
redis-cli -p $p rpush list a b c >/dev/null && redis-cli -p $p hset hash f1 v1 f2 v2 >/dev/null && redis-cli -p $p -n 2 set other 1 >/dev/null`)
	},
	change: func(t *testing.T, ex dump.Exec) {
		RedisCmd(t, ex, "flushall")
		RedisCmd(t, ex, "set", "made-since", "1")
	},
	state: func(t *testing.T, ex dump.Exec) string {
		return RedisCmd(t, ex, "get", "key:199") + RedisCmd(t, ex, "lrange", "list", "0", "-1") + RedisCmd(t, ex, "hget", "hash", "f2") +
			RedisCmd(t, ex, "exists", "made-since") + RedisCmd(t, ex, "dbsize")
	},
	tables: map[string]int64{"db0": 202, "db2": 1},
	magic:  "REDIS",
}

// RoundTrip fills the database, checks it, dumps it, changes it, restores
// the dump and checks that the data is as before.
func RoundTrip(t *testing.T, c Case, svc *stack.Service, ex dump.Exec, fs dump.PathAccess) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d, err := dump.New(c.kind, svc, ex, fs)
	if err != nil {
		t.Fatal(err)
	}
	c.fill(t, ex)
	facts, err := d.Check(ctx)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if !maps.Equal(facts.Tables, c.tables) {
		t.Errorf("check before the dump = %v, want %v", facts.Tables, c.tables)
	}
	before := c.state(t, ex)
	var buf bytes.Buffer
	if err := d.Dump(ctx, &buf); err != nil {
		t.Fatalf("dump: %v", err)
	}
	if !bytes.Contains(buf.Bytes()[:min(buf.Len(), 256)], []byte(c.magic)) {
		t.Fatalf("the dump (%d bytes) does not start with %q: %q", buf.Len(), c.magic, buf.Bytes()[:min(buf.Len(), 64)])
	}
	c.change(t, ex)
	if changed := c.state(t, ex); changed == before {
		t.Fatalf("the data did not change: %q", changed)
	}
	if err := d.Restore(ctx, bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if after := c.state(t, ex); after != before {
		t.Errorf("after the restore the data is %q, want %q as before", after, before)
	}
	facts, err = d.Check(ctx)
	if err != nil {
		t.Fatalf("check after the restore: %v", err)
	}
	if !maps.Equal(facts.Tables, c.tables) {
		t.Errorf("check after the restore = %v, want %v", facts.Tables, c.tables)
	}
	return buf.Bytes()
}

// DumpFailsWhenDown checks that a dump of a database that is not running
// fails with ErrDumpFailed, and that a check fails too.
func DumpFailsWhenDown(t *testing.T, kind string, svc *stack.Service, ex dump.Exec, secrets ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := dump.New(kind, svc, ex, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	err = d.Dump(ctx, &buf)
	if !errors.Is(err, dump.ErrDumpFailed) {
		t.Fatalf("dump of a stopped database: %v, want ErrDumpFailed", err)
	}
	t.Logf("dump of a stopped database: %v", err)
	if _, err := d.Check(ctx); !errors.Is(err, dump.ErrCheckFailed) {
		t.Errorf("check of a stopped database: %v, want ErrCheckFailed", err)
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("the error shows a secret: %v", err)
		}
	}
}

// RestoreRefusesTruncated restores the first half of a good dump, which
// must fail with ErrRestoreFailed and leave the data as it was (for the
// kinds whose restore is all or nothing: PostgreSQL's single transaction,
// Redis' snapshot loaded before the server switches to it).
func RestoreRefusesTruncated(t *testing.T, c Case, svc *stack.Service, ex dump.Exec, fs dump.PathAccess, good []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := dump.New(c.kind, svc, ex, fs)
	if err != nil {
		t.Fatal(err)
	}
	before := c.state(t, ex)
	err = d.Restore(ctx, bytes.NewReader(good[:len(good)/2]))
	if !errors.Is(err, dump.ErrRestoreFailed) {
		t.Fatalf("restore of half a dump: %v, want ErrRestoreFailed", err)
	}
	t.Logf("restore of half a dump: %v", err)
	if after := c.state(t, ex); after != before {
		t.Errorf("after a failed restore the data is %q, want %q as before", after, before)
	}
}

// FilesRoundTrip dumps a files backup of svc, checks that the hashes it
// recorded are want, runs change, restores and checks that every file of
// want is back with its content (files made since may stay).
func FilesRoundTrip(t *testing.T, svc *stack.Service, ex dump.Exec, fs dump.PathAccess, want map[string]string, change func()) {
	t.Helper()
	d, err := dump.New(stack.BackupVolume, svc, ex, fs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var buf bytes.Buffer
	if err := d.Dump(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	if got := d.(dump.Recorder).Recorded().Files; !maps.Equal(got, want) {
		t.Errorf("recorded hashes = %v, want %v", got, want)
	}
	change()
	if f, _ := d.Check(ctx); maps.Equal(f.Files, want) {
		t.Fatal("the files did not change")
	}
	if err := d.Restore(ctx, bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	f, err := d.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for p, h := range want {
		if f.Files[p] != h {
			t.Errorf("after the restore %s has hash %q, want %q", p, f.Files[p], h)
		}
	}
}

// SHA256 is the hex SHA-256 of s, as Facts.Files holds it.
func SHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Beside returns the Exec and PathAccess of replica h of rt.
func Beside(t *testing.T, rt runtime.Runtime, h runtime.Handle) (dump.Exec, dump.PathAccess) {
	t.Helper()
	ex, err := dump.ExecIn(rt, h)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := dump.PathsOf(rt, h)
	if err != nil {
		t.Fatal(err)
	}
	return ex, fs
}
