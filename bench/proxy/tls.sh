#!/usr/bin/env bash
# TLS proxy benchmark: quai's proxy, nginx and HAProxy in front of the same
# static 1 KiB backend, all three with the same certificate (ECDSA P-256,
# TLS 1.3), on the core arrangement of run.sh: each proxy shares core 0 with
# the backend, the load generator runs on core 1. Three measures:
#
#   https  wrk, keep-alive connections over TLS (req/s, p50, p99)
#   hs     wrk with "Connection: close": every request a new TCP connection
#          and a full TLS handshake (wrk resumes no session): handshakes/s
#   h2     h2load, HTTP/2 over TLS, 10 streams per connection (req/s, mean)
#
# Besides req/s and latency it prints each proxy's CPU time and read and
# write syscalls per request.
#
# Rounds are interleaved (round → measure → proxy) and the table shows
# medians and ratios to nginx.
#
#   bench/proxy/tls.sh                          # 3 rounds x 10 s, 64 connections
#   ROUNDS=1 DURATION=5 ONLY="https" bench/proxy/tls.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10} # seconds
CONNS=${CONNS:-64}
HS_CONNS=${HS_CONNS:-16}
STREAMS=${STREAMS:-10}
PROXY_CORE=${PROXY_CORE:-0}
WRK_CORE=${WRK_CORE:-1}
BASE_PORT=${BASE_PORT:-18480}
MEASURES=${ONLY:-https hs h2}

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v haproxy >/dev/null || need+=(haproxy)
command -v h2load >/dev/null || need+=(nghttp2-client)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq "${need[@]}" >/dev/null
fi

# shellcheck source=bench/proxy/lib.sh
. bench/proxy/lib.sh
bench_setup

backend_port=$BASE_PORT
quai_port=$((BASE_PORT + 1))
nginx_port=$((BASE_PORT + 2))
haproxy_port=$((BASE_PORT + 3))
backend=127.0.0.1:$backend_port

# One certificate for the three: clients connect to 127.0.0.1 and send no
# SNI, so the name is localhost (quai serves a client without SNI the
# localhost route's certificate).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
cat "$tmp/cert.pem" "$tmp/key.pem" > "$tmp/haproxy.pem"

go build -trimpath -o "$tmp/proxybench" ./bench/proxy
pin="taskset -c $PROXY_CORE"

$pin "$tmp/proxybench" backend -addr "$backend" & pids+=($!)
$pin "$tmp/proxybench" proxy -addr "" -https 127.0.0.1:$quai_port -host localhost -cert "$tmp/cert.pem" -key "$tmp/key.pem" \
  -target "$backend" & pids+=($!); quai_pid=$!

nginx_conf "127.0.0.1:$nginx_port ssl http2" "$backend" "    ssl_certificate $tmp/cert.pem;
    ssl_certificate_key $tmp/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    http2_max_concurrent_streams 128;
    keepalive_requests 100000;"
$pin nginx -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" & pids+=($!); nginx_pid=$!

cat > "$tmp/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4096
  ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  http-reuse always
frontend fe
  bind 127.0.0.1:$haproxy_port ssl crt $tmp/haproxy.pem alpn h2,http/1.1
  option forwardfor
  default_backend be
backend be
  server s1 $backend
CONF
$pin haproxy -f "$tmp/haproxy.cfg" & pids+=($!); haproxy_pid=$!

names=(quai nginx haproxy)
ports=($quai_port $nginx_port $haproxy_port)
procs=($quai_pid $nginx_pid $haproxy_pid)

for port in "${ports[@]}"; do
  for _ in $(seq 50); do
    if curl -kfsS -o /dev/null 2>/dev/null -H 'Host: localhost' "https://127.0.0.1:$port/"; then continue 2; fi
    sleep 0.1
  done
  echo "nothing answers HTTPS on 127.0.0.1:$port" >&2
  exit 1
done
for port in "${ports[@]}"; do
  proto=$(curl -ks --http2 -o /dev/null -w '%{http_version}' -H 'Host: localhost' "https://127.0.0.1:$port/")
  [ "$proto" = 2 ] || { echo "127.0.0.1:$port does not speak HTTP/2 (got $proto)" >&2; exit 1; }
done

hz=$(getconf CLK_TCK)

# measure prints "rps p50_ms p99_ms requests" (p50 is h2load's mean for h2,
# p99 is - there: h2load gives no percentiles of request times).
measure() { # what port duration
  local out
  case $1 in
  https)
    out=$(taskset -c "$WRK_CORE" wrk -t1 -c"$CONNS" -d"$3"s --latency -H 'Host: localhost' "https://127.0.0.1:$2/")
    ;;
  hs)
    out=$(taskset -c "$WRK_CORE" wrk -t1 -c"$HS_CONNS" -d"$3"s --latency -H 'Host: localhost' -H 'Connection: close' "https://127.0.0.1:$2/")
    ;;
  h2)
    out=$(taskset -c "$WRK_CORE" h2load -t1 -c"$CONNS" -m"$STREAMS" -D"$3" -H ':authority: localhost' "https://127.0.0.1:$2/" 2>&1)
    awk '/^finished in/ { rps = $4 } /requests: .* succeeded/ { ok = $8 } /^time for request:/ { mean = $6 } END { print rps, mean, "-", ok }' <<<"$out" |
      while read -r rps mean p99 ok; do echo "$rps $(to_ms "$mean") $p99 $ok"; done
    return
    ;;
  esac
  local rps reqs p50 p99
  rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
  reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
  p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
  if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then grep 'Non-2xx\|Socket errors' <<<"$out" | sed "s/^/  $1 :$2 /" >&2; fi
  echo "$rps $p50 $p99 $reqs"
}

echo "warming up" >&2
for m in $MEASURES; do for i in "${!names[@]}"; do measure "$m" "${ports[$i]}" 2 >/dev/null; done; done

results=$tmp/results
: > "$results"
for round in $(seq "$ROUNDS"); do
  for m in $MEASURES; do
    for i in "${!names[@]}"; do
      before=$(cpu_ticks "${procs[$i]}")
      read -r rd0 wr0 < <(io_calls "${procs[$i]}")
      read -r rps p50 p99 reqs < <(measure "$m" "${ports[$i]}" "$DURATION")
      after=$(cpu_ticks "${procs[$i]}")
      read -r rd1 wr1 < <(io_calls "${procs[$i]}")
      cpu=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$reqs" 'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "-" }')
      sys=$(awk -v r=$((rd1 - rd0)) -v w=$((wr1 - wr0)) -v n="$reqs" 'BEGIN { if (n > 0) printf "%.2f/%.2f", r / n, w / n; else print "-" }')
      echo "$m ${names[$i]} $rps $p50 $p99 $cpu $sys" >> "$results"
      printf 'round %d %-5s %-8s %10s req/s  p50/mean %7s ms  p99 %7s ms  cpu %6s us/req  reads/writes %s per req\n' "$round" "$m" "${names[$i]}" "$rps" "$p50" "$p99" "$cpu" "$sys" >&2
    done
  done
done

col() { awk -v m="$1" -v n="$2" -v c="$3" '$1 == m && $2 == n && $c != "-" { print $c }' "$results" | median; }
# sys_col prints the median reads and writes per request as "r/w".
sys_col() {
  local r w
  r=$(awk -v m="$1" -v n="$2" '$1 == m && $2 == n && $7 != "-" { split($7, a, "/"); print a[1] }' "$results" | median)
  w=$(awk -v m="$1" -v n="$2" '$1 == m && $2 == n && $7 != "-" { split($7, a, "/"); print a[2] }' "$results" | median)
  echo "$r/$w"
}

echo
echo "TLS proxy benchmark: $ROUNDS x ${DURATION}s, 1 KiB responses, proxy+backend on core $PROXY_CORE, client on core $WRK_CORE (medians)"
echo "https: wrk, $CONNS keep-alive TLS connections; hs: wrk, $HS_CONNS connections, a new connection and full TLS handshake per request;"
echo "h2: h2load, $CONNS connections x $STREAMS streams (p50 column: h2load's mean; it reports no p99). cpu: the proxy process's CPU per request"
echo "sys r/w: the proxy's read(2)- and write(2)-family syscalls per request, client and upstream sides (/proc/PID/io: recv and send, which HAProxy uses, are not counted)"
printf '%-6s %-8s %10s %9s %9s %11s %10s %10s %11s\n' test target req/s p50_ms p99_ms cpu_us/req rps/nginx p99/nginx "sys r/w"
for m in $MEASURES; do
  nr=$(col "$m" nginx 3); np=$(col "$m" nginx 5)
  for n in "${names[@]}"; do
    rps=$(col "$m" "$n" 3); p50=$(col "$m" "$n" 4); p99=$(col "$m" "$n" 5); cpu=$(col "$m" "$n" 6); sys=$(sys_col "$m" "$n")
    awk -v m="$m" -v n="$n" -v r="$rps" -v a="$p50" -v b="$p99" -v c="$cpu" -v nr="$nr" -v np="$np" -v s="$sys" \
      'BEGIN { pr = (b == "-" || np == "-" || np == 0) ? "-" : sprintf("%.2f", b / np);
               rr = (nr == "-" || nr == 0) ? "-" : sprintf("%.2f", r / nr);
               printf "%-6s %-8s %10.0f %9.3f %9s %11s %10s %10s %11s\n", m, n, r, a, b, c, rr, pr, s }'
  done
done
