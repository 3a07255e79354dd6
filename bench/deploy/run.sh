#!/usr/bin/env bash
# Deploy benchmark on the process runtime, with examples/users-api:
#   (a) time from `quai up` to the new release answering through the proxy,
#       for a fresh install and for an update;
#   (b) failed requests during UPDATES consecutive updates under a steady
#       concurrent load through quai's proxy (must be 0);
#   (c) the daemon's resident memory, idle, with the example deployed.
# Every update changes APP_VERSION, so the api replicas are replaced; "healthy"
# means /api/version through the proxy answers the new version.
#
# Knobs (environment): UPDATES (10), RATE requests/s (100), CONCURRENCY (8),
# KEEP=1 to leave the instance installed, QUAI_DATA_DIR to use another daemon
# (e.g. one started with `quai serve --http 127.0.0.1:18080`).
set -euo pipefail
cd "$(dirname "$0")/../.."

q=./bin/quai
project=examples/users-api
instance=users-api-dev
host=users-api.dev.localhost
updates=${UPDATES:-10}
rate=${RATE:-100}
concurrency=${CONCURRENCY:-8}
deadline_secs=120

work=$(mktemp -d)
load_pid=""
cleanup() {
  if [ -n "$load_pid" ]; then kill -TERM "$load_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

die() {
  echo "bench/deploy: $*" >&2
  "$q" status "$instance" >&2 || true
  "$q" logs "$instance" api --tail 30 >&2 || true
  exit 1
}

data_dir=${QUAI_DATA_DIR:-${XDG_DATA_HOME:+$XDG_DATA_HOME/quai}}
if [ -z "$data_dir" ]; then
  if [ "$(id -u)" = 0 ]; then data_dir=/var/lib/quai; else data_dir=$HOME/.local/share/quai; fi
fi
# daemon_info FIELD: a field of the daemon's GET /api/v1/info.
daemon_info() {
  curl -fsS --max-time 5 --unix-socket "$data_dir/quai.sock" http://quai/api/v1/info |
    sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# version_is V: does /api/version through the proxy answer V?
version_is() {
  curl -fsS --max-time 2 --resolve "$host:$port:127.0.0.1" "$url/api/version" 2>/dev/null | grep -q "\"version\":\"$1\""
}

# deploy V: quai up with APP_VERSION=V, then wait until V answers; prints seconds.
deploy() {
  local v=$1 t0 limit
  t0=$(now)
  APP_VERSION=$v "$q" up "$project" --env dev -y >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; die "quai up (APP_VERSION=$v) failed"; }
  limit=$((SECONDS + deadline_secs))
  until version_is "$v"; do
    [ "$SECONDS" -lt "$limit" ] || die "version $v never answered through the proxy at $url within ${deadline_secs}s"
    sleep 0.05
  done
  elapsed "$t0" "$(now)"
}

echo "building quai, the example and the load generator"
make -s build
make -s -C "$project"
go build -o "$work/load" ./bench/deploy/load
command -v initdb >/dev/null || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null ||
  { echo "bench/deploy: PostgreSQL server binaries are missing: apt-get install postgresql" >&2; exit 2; }

"$q" ls >/dev/null # starts the daemon when none runs
http_addr=$(daemon_info http_addr)
[ -n "$http_addr" ] || die "the quai daemon's proxy does not listen for HTTP (started with --http off?)"
port=${http_addr##*:}
url="http://$host:$port"
pid=$(daemon_info pid)

# (a) fresh install: remove a previous instance, then install.
if "$q" status "$instance" >/dev/null 2>&1; then
  echo "removing the existing $instance for a fresh install"
  "$q" rm "$instance" -y >/dev/null
fi
echo "fresh install"
fresh=$(deploy "bench-0")
echo "update"
update=$(deploy "bench-1")

# (b) updates under load.
echo "$updates updates under load ($rate req/s, $concurrency clients)"
"$work/load" -urls "$url/api/users,$url/api/version,$url/" -c "$concurrency" -rate "$rate" \
  -duration 30m -json "$work/load.json" >"$work/load.out" &
load_pid=$!
sleep 2
times=()
for i in $(seq 1 "$updates"); do
  t=$(deploy "load-$i")
  times+=("$t")
  printf '  update %2d: %ss\n' "$i" "$t"
done
sleep 2
kill -TERM "$load_pid"
wait "$load_pid" || die "the load generator failed"
load_pid=""
read -r -a summary <"$work/load.out"
declare -A L
for kv in "${summary[@]}"; do L[${kv%%=*}]=${kv#*=}; done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')

# (c) daemon memory once idle.
sleep 5
[ "$(daemon_info pid)" = "$pid" ] || die "the quai daemon (pid $pid) restarted during the benchmark"
rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
# The process runtime supervises each replica with a small quai process, a
# child of the daemon: part of the control plane's footprint too. RSS counts
# the binary's shared pages once per process, PSS shares them out.
shims=0 shim_rss_kb=0 shim_pss_kb=0
for child in $(ps -o pid= --ppid "$pid"); do
  [ "$(ps -o comm= -p "$child")" = quai ] || continue
  shims=$((shims + 1))
  shim_rss_kb=$((shim_rss_kb + $(awk '/^VmRSS:/ { print $2 }' "/proc/$child/status")))
  shim_pss_kb=$((shim_pss_kb + $(awk '/^Pss:/ { print $2 }' "/proc/$child/smaps_rollup" 2>/dev/null || echo 0)))
done

printf '\n%-52s %s\n' "measure" "value"
printf '%-52s %s\n' "----------------------------------------------------" "----------"
printf '%-52s %ss\n' "(a) fresh install: quai up -> new release answering" "$fresh"
printf '%-52s %ss\n' "(a) update: quai up -> new release answering" "$update"
printf '%-52s %ss\n' "(b) median update under load ($updates updates)" "$median"
printf '%-52s %s\n' "(b) requests during updates" "${L[requests]} (${L[rps]}/s, p50 ${L[p50_ms]} ms, p99 ${L[p99_ms]} ms)"
printf '%-52s %s\n' "(b) failed requests during updates" "${L[failures]}"
printf '%-52s %s MiB (peak %s MiB)\n' "(c) daemon RSS, idle, example deployed (pid $pid)" "$((rss_kb / 1024))" "$((hwm_kb / 1024))"
printf '%-52s %s MiB RSS, %s MiB PSS\n' "(c) $shims replica supervisors, together" "$((shim_rss_kb / 1024))" "$((shim_pss_kb / 1024))"
echo "versions served during the load: ${L[versions]}"

if [ "${KEEP:-}" != 1 ]; then
  "$q" rm "$instance" -y >/dev/null || echo "bench/deploy: could not remove $instance" >&2
fi
if [ "${L[failures]}" != 0 ]; then
  echo "bench/deploy: ${L[failures]} requests failed during updates; first failures:" >&2
  cat "$work/load.json" >&2
  exit 1
fi
