#!/usr/bin/env bash
# What quai's per-route request statistics (the metrics the proxy feeds)
# cost: wrk against the proxy with them on and off, same backend, interleaved
# rounds, medians and the on/off ratio. Proxy and backend share core 0, wrk
# runs on core 1, as in run.sh; only wrk is needed.
#
#   bench/proxy/stats.sh                  # 5 rounds x 10 s, 64 connections
#   ROUNDS=3 DURATION=5s bench/proxy/stats.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
PROXY_CORE=${PROXY_CORE:-0}
WRK_CORE=${WRK_CORE:-1}
BASE_PORT=${BASE_PORT:-18180}

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
# shellcheck source=bench/proxy/lib.sh
. bench/proxy/lib.sh
bench_setup

backend=127.0.0.1:$BASE_PORT
on_port=$((BASE_PORT + 1))
off_port=$((BASE_PORT + 2))
go build -trimpath -o "$tmp/proxybench" ./bench/proxy
pin="taskset -c $PROXY_CORE"
$pin "$tmp/proxybench" backend -addr "$backend" & pids+=($!)
$pin "$tmp/proxybench" proxy -addr 127.0.0.1:$on_port -target "$backend" & pids+=($!)
$pin "$tmp/proxybench" proxy -addr 127.0.0.1:$off_port -target "$backend" -nostats & pids+=($!)
for port in $on_port $off_port; do
  for _ in $(seq 50); do
    if curl -fsS -o /dev/null 2>/dev/null -H 'Host: bench.localhost' "http://127.0.0.1:$port/"; then continue 2; fi
    sleep 0.1
  done
  echo "nothing answers on 127.0.0.1:$port" >&2
  exit 1
done

run_wrk() { taskset -c "$WRK_CORE" wrk -t1 -c"$CONNS" -d"$2" -H 'Host: bench.localhost' "http://127.0.0.1:$1/" | awk '/^Requests\/sec:/ { print $2 }'; }
run_wrk $on_port 2s >/dev/null
run_wrk $off_port 2s >/dev/null
: > "$tmp/r"
for round in $(seq "$ROUNDS"); do
  # Alternate which goes first, so drift in the machine's load hits both.
  if ((round % 2)); then order="on off"; else order="off on"; fi
  for which in $order; do
    port=$on_port; [ "$which" = off ] && port=$off_port
    rps=$(run_wrk "$port" "$DURATION")
    echo "$which $rps" >> "$tmp/r"
    printf 'round %d  stats %-3s %10s req/s\n' "$round" "$which" "$rps" >&2
  done
done
on=$(awk '$1 == "on" { print $2 }' "$tmp/r" | median)
off=$(awk '$1 == "off" { print $2 }' "$tmp/r" | median)
echo
echo "proxy request statistics: $CONNS connections, $ROUNDS x $DURATION, 1 KiB responses (medians)"
awk -v on="$on" -v off="$off" 'BEGIN { printf "stats on  %10.0f req/s\nstats off %10.0f req/s\non/off    %10.3f  (cost %.1f%%)\n", on, off, on / off, 100 * (1 - on / off) }'
