#!/usr/bin/env bash
# Backup benchmark: quai's repository (internal/backup: kopia's format,
# buzhash chunking, zstd, AES-256-GCM) against Debian's restic (0.14,
# repository v2 with compression) on the same data, both to a local
# directory:
#   - a SQL dump shaped like pg_dump's plain output (a synthetic one: the
#     host's PostgreSQL would need a non-root user and minutes to load the
#     rows; the shape, not the server, is what chunking and compression see)
#     backed up as a stream (restic: --stdin), and a tree of files;
#   - the first backup, then a second after a 1 % change (0.5 % of the rows
#     updated as PostgreSQL does, moved to the table's end, 0.5 % new rows,
#     1 % of the files rewritten): time and bytes added;
#   - a restore of the latest snapshots; the repository's size.
# Prints the figures side by side and quai's ratio to restic (throughput:
# > 1 is quai faster; size: < 1 is quai smaller).
#
#   bench/backup/run.sh                       # 700 MiB dump + 300 MiB tree
#   DUMP_MIB=200 TREE_MIB=100 bench/backup/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

DUMP_MIB=${DUMP_MIB:-700}
TREE_MIB=${TREE_MIB:-300}

if ! command -v restic >/dev/null; then
  echo "installing restic" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq restic >/dev/null
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=$tmp/backupbench
go build -trimpath -o "$bin" ./bench/backup

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
size() { du -sb "$1" | cut -f1; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

echo "generating ${DUMP_MIB} MiB dump + ${TREE_MIB} MiB tree in $tmp" >&2
"$bin" gen -dump "$tmp/db.sql" -tree "$tmp/tree" -dump-mib "$DUMP_MIB" -tree-mib "$TREE_MIB"
data=$(( $(size "$tmp/db.sql") + $(size "$tmp/tree") ))

export RESTIC_PASSWORD=backup-bench RESTIC_REPOSITORY=$tmp/restic RESTIC_CACHE_DIR=$tmp/restic-cache
restic init -q
restic_backup() {
  restic backup -q --stdin --stdin-filename db.sql --host bench < "$tmp/db.sql"
  restic backup -q --host bench "$tmp/tree"
}

# First backup.
t0=$(now); "$bin" backup -repo "$tmp/quai" -dump "$tmp/db.sql" -tree "$tmp/tree" >/dev/null; t1=$(now)
q_first=$(elapsed "$t0" "$t1"); q_size1=$(size "$tmp/quai")
t0=$(now); restic_backup; t1=$(now)
r_first=$(elapsed "$t0" "$t1"); r_size1=$(size "$tmp/restic")

# 1 % change, second backup.
"$bin" gen -dump "$tmp/db.sql" -tree "$tmp/tree" -dump-mib "$DUMP_MIB" -tree-mib "$TREE_MIB" -changed
t0=$(now); "$bin" backup -repo "$tmp/quai" -dump "$tmp/db.sql" -tree "$tmp/tree" >/dev/null; t1=$(now)
q_second=$(elapsed "$t0" "$t1"); q_size2=$(size "$tmp/quai")
t0=$(now); restic_backup; t1=$(now)
r_second=$(elapsed "$t0" "$t1"); r_size2=$(size "$tmp/restic")

# Restore the latest snapshots.
t0=$(now); "$bin" restore -repo "$tmp/quai" -dump "$tmp/q-out/db.sql" -tree "$tmp/q-out/tree" >/dev/null; t1=$(now)
q_restore=$(elapsed "$t0" "$t1")
cmp "$tmp/db.sql" "$tmp/q-out/db.sql"
diff -r "$tmp/tree" "$tmp/q-out/tree"
rm -rf "$tmp/q-out"
t0=$(now)
mkdir -p "$tmp/r-out"
restic dump -q --path /db.sql latest /db.sql > "$tmp/r-out/db.sql"
restic restore -q latest --path "$tmp/tree" --target "$tmp/r-out"
t1=$(now)
r_restore=$(elapsed "$t0" "$t1")
cmp "$tmp/db.sql" "$tmp/r-out/db.sql"
diff -r "$tmp/tree" "$tmp/r-out$tmp/tree"
rm -rf "$tmp/r-out"

awk -v data="$data" -v qf="$q_first" -v rf="$r_first" -v qs="$q_second" -v rs="$r_second" \
  -v qr="$q_restore" -v rr="$r_restore" -v q1="$q_size1" -v r1="$r_size1" -v q2="$q_size2" -v r2="$r_size2" '
function mib(b) { return b / 1048576 }
BEGIN {
  printf "data: %.0f MiB (dump + tree), load %s\n", mib(data), "'"$(cut -d' ' -f1-3 /proc/loadavg)"'"
  printf "%-28s %12s %12s %14s\n", "", "quai", "restic", "quai/restic"
  printf "%-28s %11.1fs %11.1fs %13.2fx  (throughput %.0f vs %.0f MiB/s)\n", "first backup", qf, rf, rf / qf, mib(data) / qf, mib(data) / rf
  printf "%-28s %11.1fs %11.1fs %13.2fx\n", "second backup (1% changed)", qs, rs, rs / qs
  printf "%-28s %10.1fMiB %10.1fMiB %13.2fx  (%.2f%% vs %.2f%% of the data)\n", "bytes added by the second", mib(q2 - q1), mib(r2 - r1), (q2 - q1) / (r2 - r1), 100 * (q2 - q1) / data, 100 * (r2 - r1) / data
  printf "%-28s %11.1fs %11.1fs %13.2fx\n", "restore", qr, rr, rr / qr
  printf "%-28s %10.1fMiB %10.1fMiB %13.2fx\n", "repository size", mib(q2), mib(r2), q2 / r2
  print "(time ratios are restic/quai: > 1 means quai is faster; size ratios quai/restic: < 1 means quai is smaller)"
}'
