#!/usr/bin/env bash
# Load tester benchmark: `quai loadtest` against h2load (Debian's
# nghttp2-client) and wrk on the same loopback target, a small Go server
# (bench/loadtest/target) pinned to one core, the load generators pinned to
# the other:
#   - req/s with the same clients and requests (-c, -n), HTTP/1.1 (h2load
#     --h1) and HTTP/2 over cleartext (h2load's default for http://, quai
#     --h2), interleaved rounds, medians, quai's ratio (> 1: quai sends more);
#   - latency percentiles p50/p90/p99 against `wrk --latency` with the same
#     connections for the same duration (one wrk thread), medians of the
#     rounds, quai's ratio (< 1: quai measures less, i.e. adds less of its
#     own time to what it measures).
# Also the load generators' CPU time for the same requests (user + system).
# h2load prints no percentiles, so the latency comparison is with wrk.
#
#   bench/loadtest/run.sh
#   CLIENTS=50 REQUESTS=200000 ROUNDS=7 DURATION=10s bench/loadtest/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

CLIENTS=${CLIENTS:-100}
REQUESTS=${REQUESTS:-100000}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
SIZE=${SIZE:-64}
TARGET_CPU=${TARGET_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

need=()
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v wrk >/dev/null || need+=(wrk)
command -v jq >/dev/null || need+=(jq)
[[ -x /usr/bin/time ]] || need+=(time)
if ((${#need[@]})); then
  echo "installing ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=900 "${need[@]}" >/dev/null
fi

tmp=$(mktemp -d)
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
go build -trimpath -o "$tmp/quai" ./cmd/quai
go build -trimpath -o "$tmp/target" ./bench/loadtest/target

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port/
GOMAXPROCS=1 taskset -c "$TARGET_CPU" "$tmp/target" -addr "127.0.0.1:$port" -size "$SIZE" &
pid=$!
for _ in $(seq 50); do curl -fso /dev/null "$url" && break; sleep 0.1; done

# The load generator's CPU time (user + system) of its last run goes to
# $tmp/cpu: on a shared machine it is steadier than req/s, and says how much
# of the load core the tool itself needs.
load() { /usr/bin/time -f '%U %S' -o "$tmp/cpu" taskset -c "$LOAD_CPU" "$@"; }
cpu() { awk '{ print $1 + $2 }' "$tmp/cpu"; }
# quai's own data directory, so that it never starts or asks a daemon.
export QUAI_DATA_DIR=$tmp/data QUAI_NO_AUTOSTART=1
quai_rps() { load "$tmp/quai" loadtest "$url" -c "$CLIENTS" -n "$REQUESTS" --json "$@" | jq -r .requests_per_second; }
h2load_rps() { load h2load -c "$CLIENTS" -n "$REQUESTS" "$@" "$url" | sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p'; }
# wrk's latency distribution in milliseconds: p50 p90 p99.
wrk_lat() {
  load wrk -t1 -c "$CLIENTS" -d "$DURATION" --latency "$url" | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    $1 == "50%" { p50 = ms($2) } $1 == "90%" { p90 = ms($2) } $1 == "99%" { p99 = ms($2) }
    END { printf "%.4f %.4f %.4f\n", p50, p90, p99 }'
}
quai_lat() {
  load "$tmp/quai" loadtest "$url" -c "$CLIENTS" --duration "$DURATION" --json |
    jq -r '[.latency.p50_ns, .latency.p90_ns, .latency.p99_ns] | map(. / 1e6) | @tsv' | tr '\t' ' '
}
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "target: Go net/http on CPU $TARGET_CPU, $SIZE-byte answers; load on CPU $LOAD_CPU; $CLIENTS clients, $REQUESTS requests, $ROUNDS rounds" >&2
declare -A rps last cpus
for round in $(seq "$ROUNDS"); do
  # Alternate which tool goes first, so neither always gets the warmer target.
  if ((round % 2)); then order="quai h2load"; else order="h2load quai"; fi
  for tool in $order; do
    if [[ $tool == quai ]]; then
      last[quai_h1]=$(quai_rps); cpus[quai_h1]+="$(cpu) "
      last[quai_h2]=$(quai_rps --h2); cpus[quai_h2]+="$(cpu) "
    else
      last[h2load_h1]=$(h2load_rps --h1); cpus[h2load_h1]+="$(cpu) "
      last[h2load_h2]=$(h2load_rps); cpus[h2load_h2]+="$(cpu) "
    fi
  done
  for k in "${!last[@]}"; do rps[$k]+="${last[$k]} "; done
  echo "round $round: HTTP/1.1 quai ${last[quai_h1]} h2load ${last[h2load_h1]}; HTTP/2 quai ${last[quai_h2]} h2load ${last[h2load_h2]} req/s" >&2
done
lat_q=(); lat_w=()
for round in $(seq "$ROUNDS"); do
  if ((round % 2)); then lat_q+=("$(quai_lat)"); lat_w+=("$(wrk_lat)"); else lat_w+=("$(wrk_lat)"); lat_q+=("$(quai_lat)"); fi
done

med() { tr ' ' '\n' <<<"${rps[$1]}" | grep . | median; }
medcpu() { tr ' ' '\n' <<<"${cpus[$1]}" | grep . | median; }
printf '\n%-28s %12s %12s %8s\n' "req/s (median of $ROUNDS)" "quai" "h2load" "ratio"
for p in h1 h2; do
  q=$(med "quai_$p"); h=$(med "h2load_$p")
  label=$([[ $p == h1 ]] && echo "HTTP/1.1" || echo "HTTP/2 (h2c)")
  printf '%-28s %12.0f %12.0f %7sx\n' "$label" "$q" "$h" "$(ratio "$q" "$h")"
done
printf '\n%-28s %12s %12s %8s\n' "CPU s of the load generator" "quai" "h2load" "ratio"
for p in h1 h2; do
  q=$(medcpu "quai_$p"); h=$(medcpu "h2load_$p")
  label=$([[ $p == h1 ]] && echo "HTTP/1.1" || echo "HTTP/2 (h2c)")
  printf '%-28s %12.2f %12.2f %7sx\n' "$label, $REQUESTS req" "$q" "$h" "$(ratio "$q" "$h")"
done
printf '\n%-28s %12s %12s %8s\n' "latency ms (median of $ROUNDS)" "quai" "wrk" "ratio"
for i in 1 2 3; do
  name=$(echo "p50 p90 p99" | cut -d' ' -f$i)
  q=$(printf '%s\n' "${lat_q[@]}" | cut -d' ' -f$i | median)
  w=$(printf '%s\n' "${lat_w[@]}" | cut -d' ' -f$i | median)
  printf '%-28s %12.3f %12.3f %7sx\n' "$name, $CLIENTS conns, $DURATION" "$q" "$w" "$(ratio "$q" "$w")"
done
