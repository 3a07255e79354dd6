# Shared by the proxy benchmarks (run.sh, tls.sh, stats.sh): sourced, not run.
#
# bench_setup makes $tmp, the list $pids of servers the benchmark started,
# and a trap that stops them and removes $tmp.
bench_setup() {
  tmp=$(mktemp -d)
  pids=()
  trap bench_cleanup EXIT INT TERM
}

bench_cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}

# cpu_ticks prints the user+system clock ticks of a process and its
# children (nginx's worker): CPU per request does not depend on what else
# the machine runs, unlike req/s.
cpu_ticks() {
  local total=0 p
  for p in $1 $(pgrep -P "$1" || true); do
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
  done
  echo "$total"
}

# io_calls prints the read and write syscalls (syscr, syscw of
# /proc/PID/io) of a process and its children, summed.
io_calls() {
  local r=0 w=0 p pr pw
  for p in $1 $(pgrep -P "$1" || true); do
    read -r pr pw < <(awk '$1 == "syscr:" { r = $2 } $1 == "syscw:" { w = $2 } END { print r + 0, w + 0 }' "/proc/$p/io" 2>/dev/null || echo 0 0)
    r=$((r + pr)); w=$((w + pw))
  done
  echo "$r $w"
}

# to_ms converts a wrk latency such as 812.00us, 1.52ms or 1.01s.
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'; }

# median reads numbers, one a line, and prints their median ("-" for none).
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# nginx_conf writes $tmp/nginx/nginx.conf: one worker proxying to the
# backend with keep-alive upstream connections. $1 is the listen directive's
# arguments, $2 extra server-block lines (TLS).
nginx_conf() { # listen backend [server lines]
  mkdir -p "$tmp/nginx"
  cat > "$tmp/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  upstream backend { server $2; keepalive 256; }
  server {
    listen $1;
${3:-}
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
    }
  }
}
CONF
}
