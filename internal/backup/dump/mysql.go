package dump

import (
	"context"
	"io"
	"strings"
)

// myEnv is the shell prelude of every MariaDB/MySQL command. It picks the
// account as the official images make it: root with MARIADB_ROOT_PASSWORD
// (or MYSQL_, or their _FILE forms, or an allowed empty password), else
// MARIADB_USER/MYSQL_USER with its password; the password goes to the
// client in MYSQL_PWD, never on a command line. The connection's
// arguments are left in "$@", with the socket quai's process runtime names
// in MYSQL_UNIX_PORT (which the clients' configuration files would
// override). It picks the clients
// beside the server: mariadb-dump and mariadb, else mysqldump and mysql.
const myEnv = `pw=${MARIADB_ROOT_PASSWORD:-$MYSQL_ROOT_PASSWORD}
f=${MARIADB_ROOT_PASSWORD_FILE:-$MYSQL_ROOT_PASSWORD_FILE}
if [ -z "$pw" ] && [ -n "$f" ]; then read -r pw < "$f" || :; fi
u=root
if [ -z "$pw" ] && [ -z "${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-$MYSQL_ALLOW_EMPTY_PASSWORD}" ]; then
  u=${MARIADB_USER:-$MYSQL_USER}
  pw=${MARIADB_PASSWORD:-$MYSQL_PASSWORD}
  f=${MARIADB_PASSWORD_FILE:-$MYSQL_PASSWORD_FILE}
  if [ -z "$pw" ] && [ -n "$f" ]; then read -r pw < "$f" || :; fi
fi
if [ -z "$u" ]; then echo "no account to connect with: set MARIADB_ROOT_PASSWORD (or MYSQL_ROOT_PASSWORD, or _FILE) or MARIADB_USER and MARIADB_PASSWORD" >&2; exit 2; fi
MYSQL_PWD=$pw
export MYSQL_PWD
db=${MARIADB_DATABASE:-$MYSQL_DATABASE}
set -- -u "$u" ${MYSQL_UNIX_PORT:+"--socket=$MYSQL_UNIX_PORT"}
if command -v mariadb-dump >/dev/null 2>&1; then dump=mariadb-dump; cli=mariadb; else dump=mysqldump; cli=mysql; fi
`

// mysql dumps the service's database (MARIADB_DATABASE/MYSQL_DATABASE), or
// every database when it names none, as SQL.
type mysql struct{ base }

// Dump implements Dumper with mariadb-dump (mysqldump) in one consistent
// transaction, with routines and triggers. The dump of the service's
// database drops and recreates it, so a restore leaves nothing made since;
// a dump of every database does not drop them (that would drop the mysql
// database and its accounts during the restore).
func (m *mysql) Dump(ctx context.Context, w io.Writer) error {
	return m.dumpTo(ctx, "mariadb-dump", myEnv+`set -- "$@" --single-transaction --routines --triggers --hex-blob
if [ -n "$db" ]; then exec $dump "$@" --add-drop-database --databases "$db"; fi
exec $dump "$@" --all-databases`, w)
}

// Restore implements Dumper by piping the dump into the client.
func (m *mysql) Restore(ctx context.Context, r io.Reader) error {
	return m.run(ctx, ErrRestoreFailed, "mariadb restore", myEnv+`exec $cli "$@"`, nil, r, io.Discard)
}

// myCounts builds, from information_schema, one query that counts the
// rows of every base table (information_schema's own counts are estimates
// for InnoDB), and runs it.
var myCounts = `if [ -n "$db" ]; then set -- "$@" -D "$db"; where="table_schema = DATABASE()"; else where="table_schema NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')"; fi
q=$($cli "$@" -N -B -e "SET SESSION group_concat_max_len = 1073741824; SELECT GROUP_CONCAT(CONCAT('SELECT ', QUOTE(CONCAT(table_schema, '.', table_name)), ', COUNT(*) FROM ', ` + myQuoted("table_schema") + `, '.', ` + myQuoted("table_name") + `) SEPARATOR ' UNION ALL ') FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND $where") || exit
if [ -z "$q" ] || [ "$q" = NULL ]; then exit 0; fi
exec $cli "$@" -N -B -e "$q"`

// myQuoted is the SQL expression that quotes the identifier in column col
// with backticks (CHAR(96), which neither Go's raw strings nor the shell's
// double quotes can hold).
func myQuoted(col string) string {
	return "CONCAT(CHAR(96), REPLACE(" + col + ", CHAR(96), CONCAT(CHAR(96), CHAR(96))), CHAR(96))"
}

// Check implements Dumper: it connects and counts the rows of every table.
func (m *mysql) Check(ctx context.Context) (Facts, error) {
	var out strings.Builder
	if err := m.run(ctx, ErrCheckFailed, "mariadb row counts", myEnv+myCounts, nil, nil, &out); err != nil {
		return Facts{}, err
	}
	return parseCounts(m.svc, out.String(), "\t")
}
