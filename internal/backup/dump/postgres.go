package dump

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// pgEnv is the shell prelude of every PostgreSQL command: the user and
// database the official image (and quai's process runtime) create from
// POSTGRES_USER and POSTGRES_DB, and the password from POSTGRES_PASSWORD or
// its _FILE form in case local connections ask for one. The password only
// ever lives in the command's environment.
const pgEnv = `u=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$u}
if [ -z "$PGPASSWORD" ]; then
  PGPASSWORD=$POSTGRES_PASSWORD
  if [ -z "$PGPASSWORD" ] && [ -n "$POSTGRES_PASSWORD_FILE" ]; then read -r PGPASSWORD < "$POSTGRES_PASSWORD_FILE" || :; fi
  export PGPASSWORD
fi
`

// postgres dumps one database (POSTGRES_DB) in pg_dump's custom format.
type postgres struct{ base }

// Dump implements Dumper with pg_dump -Fc -Z0: the custom format without
// pg_dump's own compression, because the repository chunks, deduplicates
// and compresses the stream itself, and a compressed dump changes
// everywhere when one table does, so consecutive backups would share no
// chunk.
func (p *postgres) Dump(ctx context.Context, w io.Writer) error {
	return p.dumpTo(ctx, "pg_dump", pgEnv+`exec pg_dump -Fc -Z0 -U "$u" -d "$db"`, w)
}

// Restore implements Dumper with pg_restore --clean --if-exists in a single
// transaction: a restore that fails part way changes nothing.
func (p *postgres) Restore(ctx context.Context, r io.Reader) error {
	return p.run(ctx, ErrRestoreFailed, "pg_restore",
		pgEnv+`exec pg_restore --clean --if-exists --single-transaction --no-password -U "$u" -d "$db"`, nil, r, io.Discard)
}

// pgCounts counts the rows of every table of the database outside the
// system schemas in one query (query_to_xml runs a count per table).
const pgCounts = `SELECT n.nspname || '.' || c.relname || '|' ||
  (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY 1`

// Check implements Dumper: it connects with psql and counts the rows of
// every table.
func (p *postgres) Check(ctx context.Context) (Facts, error) {
	var out strings.Builder
	if err := p.run(ctx, ErrCheckFailed, "psql", pgEnv+`exec psql -X -q -A -t -v ON_ERROR_STOP=1 --no-password -U "$u" -d "$db" -c "$1"`,
		[]string{pgCounts}, nil, &out); err != nil {
		return Facts{}, err
	}
	return parseCounts(p.svc, out.String(), "|")
}

// parseCounts reads "name<sep>count" lines.
func parseCounts(svc, out, sep string) (Facts, error) {
	f := Facts{Tables: map[string]int64{}}
	for line := range strings.Lines(out) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			continue
		}
		i := strings.LastIndex(line, sep)
		if i < 0 {
			return Facts{}, fmt.Errorf("%w: service %s: unexpected line %q in the row counts", ErrCheckFailed, svc, line)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(line[i+len(sep):]), 10, 64)
		if err != nil {
			return Facts{}, fmt.Errorf("%w: service %s: unexpected count in %q", ErrCheckFailed, svc, line)
		}
		f.Tables[line[:i]] = n
	}
	return f, nil
}
