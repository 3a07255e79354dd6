#!/usr/bin/env bash
# Proxy benchmark: wrk with keep-alive connections against a static 1 KiB
# backend, directly and through quai's proxy, nginx, HAProxy, Caddy and
# net/http/httputil. Each proxy shares core 0 with the backend; wrk runs
# on core 1. Rounds are interleaved and the table shows medians.
#
#   bench/proxy/run.sh                # 3 rounds x 10 s, 64 connections
#   ROUNDS=1 DURATION=5s ONLY="direct quai" bench/proxy/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
PROXY_CORE=${PROXY_CORE:-0}
WRK_CORE=${WRK_CORE:-1}
BASE_PORT=${BASE_PORT:-18080}

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v haproxy >/dev/null || need+=(haproxy)
command -v caddy >/dev/null || need+=(caddy)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# shellcheck source=bench/proxy/lib.sh
. bench/proxy/lib.sh
bench_setup

backend_port=$BASE_PORT
quai_port=$((BASE_PORT + 1))
nginx_port=$((BASE_PORT + 2))
haproxy_port=$((BASE_PORT + 3))
caddy_port=$((BASE_PORT + 4))
httputil_port=$((BASE_PORT + 5))
quailog_port=$((BASE_PORT + 6))
quainostats_port=$((BASE_PORT + 7))
backend=127.0.0.1:$backend_port

go build -trimpath -o "$tmp/proxybench" ./bench/proxy

# Started directly (not through a function) so that $! is the server
# itself and the trap can stop it.
pin="taskset -c $PROXY_CORE"

$pin "$tmp/proxybench" backend -addr "$backend" & pids+=($!); backend_pid=$!
$pin "$tmp/proxybench" proxy -addr 127.0.0.1:$quai_port -target "$backend" & pids+=($!); quai_pid=$!
$pin "$tmp/proxybench" proxy -addr 127.0.0.1:$quailog_port -target "$backend" -log 2>/dev/null & pids+=($!); quailog_pid=$!
$pin "$tmp/proxybench" proxy -addr 127.0.0.1:$quainostats_port -target "$backend" -nostats & pids+=($!); quainostats_pid=$!
$pin "$tmp/proxybench" proxy -impl httputil -addr 127.0.0.1:$httputil_port -target "$backend" & pids+=($!); httputil_pid=$!

nginx_conf "127.0.0.1:$nginx_port" "$backend"
$pin nginx -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" & pids+=($!); nginx_pid=$!

cat > "$tmp/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  http-reuse always
frontend fe
  bind 127.0.0.1:$haproxy_port
  option forwardfor
  default_backend be
backend be
  server s1 $backend
CONF
$pin haproxy -f "$tmp/haproxy.cfg" & pids+=($!); haproxy_pid=$!

cat > "$tmp/Caddyfile" <<CONF
{
  admin off
  auto_https off
}
http://:$caddy_port {
  bind 127.0.0.1
  reverse_proxy $backend
}
CONF
XDG_DATA_HOME=$tmp XDG_CONFIG_HOME=$tmp $pin caddy run --config "$tmp/Caddyfile" --adapter caddyfile >"$tmp/caddy.log" 2>&1 & pids+=($!); caddy_pid=$!

# quai-nostats is quai with its per-route request statistics off: quai
# against it is what the metrics cost.
names=(direct quai quai-nostats quai+log nginx haproxy caddy httputil)
ports=($backend_port $quai_port $quainostats_port $quailog_port $nginx_port $haproxy_port $caddy_port $httputil_port)
procs=($backend_pid $quai_pid $quainostats_pid $quailog_pid $nginx_pid $haproxy_pid $caddy_pid $httputil_pid)

hz=$(getconf CLK_TCK)

# ONLY="quai nginx" measures a subset (nginx is kept: it is the reference).
if [ -n "${ONLY:-}" ]; then
  keep_n=() keep_p=() keep_c=()
  for i in "${!names[@]}"; do
    if [[ " $ONLY nginx " == *" ${names[$i]} "* ]]; then
      keep_n+=("${names[$i]}"); keep_p+=("${ports[$i]}"); keep_c+=("${procs[$i]}")
    fi
  done
  names=("${keep_n[@]}") ports=("${keep_p[@]}") procs=("${keep_c[@]}")
fi

for port in "${ports[@]}"; do
  for _ in $(seq 50); do
    if curl -fsS -o /dev/null 2>/dev/null -H 'Host: bench.localhost' "http://127.0.0.1:$port/"; then continue 2; fi
    sleep 0.1
  done
  echo "nothing answers on 127.0.0.1:$port" >&2
  exit 1
done


run_wrk() { # name port duration
  taskset -c "$WRK_CORE" wrk -t1 -c"$CONNS" -d"$3" --latency -H 'Host: bench.localhost' "http://127.0.0.1:$2/"
}

echo "warming up" >&2
for i in "${!names[@]}"; do run_wrk "${names[$i]}" "${ports[$i]}" 2s >/dev/null; done

results=$tmp/results
: > "$results"
for round in $(seq "$ROUNDS"); do
  for i in "${!names[@]}"; do
    before=$(cpu_ticks "${procs[$i]}")
    out=$(run_wrk "${names[$i]}" "${ports[$i]}" "$DURATION")
    after=$(cpu_ticks "${procs[$i]}")
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
    # the proxy's own CPU per request, in microseconds (backend excluded)
    cpu=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$reqs" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    errs=$(awk '/Non-2xx|Socket errors/ { print }' <<<"$out" | tr '\n' ' ')
    echo "${names[$i]} $rps $p50 $p99 $cpu" >> "$results"
    printf 'round %d %-9s %10s req/s  p50 %7s ms  p99 %7s ms  cpu %6s us/req %s\n' "$round" "${names[$i]}" "$rps" "$p50" "$p99" "$cpu" "$errs" >&2
  done
done

col() { awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$results" | median; }

nginx_rps=$(col nginx 2)
nginx_p99=$(col nginx 4)
echo
echo "proxy benchmark: $CONNS connections, $ROUNDS x $DURATION, 1 KiB responses, proxy+backend on core $PROXY_CORE, wrk on core $WRK_CORE (medians)"
echo "cpu_us/req: CPU time of the proxy process alone per request (for direct: the backend's)"
printf '%-10s %10s %9s %9s %11s %10s %10s\n' target req/s p50_ms p99_ms cpu_us/req rps/nginx p99/nginx
for n in "${names[@]}"; do
  rps=$(col "$n" 2); p50=$(col "$n" 3); p99=$(col "$n" 4); cpu=$(col "$n" 5)
  awk -v n="$n" -v r="$rps" -v a="$p50" -v b="$p99" -v c="$cpu" -v nr="$nginx_rps" -v np="$nginx_p99" \
    'BEGIN { printf "%-10s %10.0f %9.3f %9.3f %11.1f %10.2f %10.2f\n", n, r, a, b, c, r / nr, b / np }'
done
