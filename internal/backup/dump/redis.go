package dump

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// redisEnv is the shell prelude of every Redis command: the server's port
// (PORT on quai's process runtime, else Redis' default) and, when the app
// is given one, its password in REDISCLI_AUTH (never on a command line).
const redisEnv = `p=${PORT:-6379}
if [ -z "$REDISCLI_AUTH" ] && [ -n "$REDIS_PASSWORD" ]; then REDISCLI_AUTH=$REDIS_PASSWORD; export REDISCLI_AUTH; fi
`

// redis backs up a Redis server as an RDB snapshot, the file Redis itself
// persists to.
type redis struct {
	base
}

// Dump implements Dumper with redis-cli --rdb -, which has the server
// produce a fresh snapshot and streams it without a file. redis-cli 7.0
// writes the 40-byte end-of-transfer marker of a diskless transfer after
// the snapshot when it writes to standard output; rdbWriter cuts it.
func (d *redis) Dump(ctx context.Context, w io.Writer) error {
	rw := &rdbWriter{w: w}
	if err := d.dumpTo(ctx, "redis-cli --rdb", redisEnv+`exec redis-cli -p "$p" --rdb -`, rw); err != nil {
		return err
	}
	if err := rw.finish(); err != nil {
		return fmt.Errorf("%w: service %s: %w", ErrDumpFailed, d.svc, err)
	}
	return nil
}

// rdbMarker is the length of a diskless transfer's end marker.
const rdbMarker = 40

// rdbWriter passes an RDB stream on, holding back its last bytes so that a
// trailing transfer marker (40 hex digits after the snapshot's end: 0xFF
// and an 8-byte checksum) is dropped.
type rdbWriter struct {
	w       io.Writer
	held    []byte
	started bool
}

func (r *rdbWriter) Write(p []byte) (int, error) {
	n := len(p)
	r.held = append(r.held, p...)
	if !r.started && len(r.held) >= 5 {
		if string(r.held[:5]) != "REDIS" {
			return 0, fmt.Errorf("the snapshot does not start as an RDB file does")
		}
		r.started = true
	}
	const keep = rdbMarker + 9
	if len(r.held) > keep {
		out := len(r.held) - keep
		if _, err := r.w.Write(r.held[:out]); err != nil {
			return 0, err
		}
		r.held = append(r.held[:0], r.held[out:]...)
	}
	return n, nil
}

func (r *rdbWriter) finish() error {
	if !r.started {
		return fmt.Errorf("the snapshot is not an RDB file")
	}
	tail := r.held
	if len(tail) == rdbMarker+9 && tail[0] == 0xFF && isHex(tail[9:]) {
		tail = tail[:9]
	}
	_, err := r.w.Write(tail)
	return err
}

func isHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// redisRestore loads the snapshot on standard input into the running
// server without restarting it and without Redis' DEBUG commands (off by
// default since Redis 7): a second redis-server started beside it loads
// the snapshot straight from the pipe (dir /dev, dbfilename stdin), the
// server replicates from it (a full synchronisation replaces all its data,
// and it persists the result itself, RDB or AOF), then stops replicating
// and the second server stops. Only sh builtins, redis-server and
// redis-cli are used, which every Redis image has, and cat where there is
// one: the pipe cat writes to belongs to the user the server runs as,
// whereas the one the snapshot arrives on may not (the process runtime
// runs Redis as its system user), and /dev/stdin is opened anew. $1 is the
// second server's port on loopback.
const redisRestore = redisEnv + `s=$1
exec 3<&0
set -- --port "$s" --bind 127.0.0.1 --dir /dev --dbfilename stdin --save '' --appendonly no --repl-diskless-sync-delay 0 --daemonize no --logfile '' --loglevel warning
if command -v cat >/dev/null 2>&1; then
  cat 0<&3 3<&- | redis-server "$@" 3<&- >&2 &
else
  redis-server "$@" 0<&3 3<&- >&2 &
fi
src=$!
exec 3<&- 0</dev/null
trap 'redis-cli -p "$s" shutdown nosave >/dev/null 2>&1; kill $src 2>/dev/null; wait $src 2>/dev/null' EXIT
i=0
until [ "$(redis-cli -p "$s" ping 2>/dev/null)" = PONG ]; do
  i=$((i+1)); if [ $i -gt 600 ] || ! kill -0 $src 2>/dev/null; then echo "the second redis-server, which loads the snapshot, did not start on 127.0.0.1:$s: see its message above (a port in use: try again; a snapshot this Redis version cannot read: restore with the version that made it)" >&2; exit 1; fi
  redis-cli -p "$s" -i 0.1 -r 1 ping >/dev/null 2>&1
done
[ "$(redis-cli -p "$p" replicaof 127.0.0.1 "$s")" = OK ] || { echo "the server refused to replicate from the snapshot" >&2; exit 1; }
i=0
while :; do
  info=$(redis-cli -p "$p" info replication)
  case $info in *master_link_status:up*) case $info in *master_sync_in_progress:0*) break;; esac;; esac
  i=$((i+1)); if [ $i -gt 36000 ]; then redis-cli -p "$p" replicaof no one >/dev/null; echo "the server did not finish loading the snapshot" >&2; exit 1; fi
  redis-cli -p "$s" -i 0.1 -r 1 ping >/dev/null 2>&1
done
[ "$(redis-cli -p "$p" replicaof no one)" = OK ] || { echo "the server did not stop replicating" >&2; exit 1; }
`

// Restore implements Dumper (see redisRestore).
func (d *redis) Restore(ctx context.Context, r io.Reader) error {
	var b [2]byte
	_, _ = rand.Read(b[:])
	port := 30000 + int(binary.BigEndian.Uint16(b[:]))%20000
	return d.run(ctx, ErrRestoreFailed, "redis restore", redisRestore, []string{strconv.Itoa(port)}, r, io.Discard)
}

// Check implements Dumper: the server answers, and its keys per database
// (INFO keyspace).
func (d *redis) Check(ctx context.Context) (Facts, error) {
	var out strings.Builder
	if err := d.run(ctx, ErrCheckFailed, "redis-cli info keyspace", redisEnv+`exec redis-cli -p "$p" info keyspace`, nil, nil, &out); err != nil {
		return Facts{}, err
	}
	text := out.String()
	if !strings.Contains(text, "# Keyspace") {
		return Facts{}, fmt.Errorf("%w: service %s: redis-cli info keyspace: %s", ErrCheckFailed, d.svc, strings.TrimSpace(text))
	}
	f := Facts{Tables: map[string]int64{}}
	for line := range strings.Lines(text) {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":keys=")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.Split(rest, ",")[0], 10, 64)
		if err != nil {
			return Facts{}, fmt.Errorf("%w: service %s: unexpected line %q", ErrCheckFailed, d.svc, line)
		}
		f.Tables[name] = n
	}
	return f, nil
}
