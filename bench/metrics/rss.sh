#!/usr/bin/env bash
# Daemon footprint with metrics: RSS of `quai serve` idle (metrics history
# on, Prometheus listener on), then with N instances (default 50) on the
# process runtime, each a routed python3 http.server receiving a request a
# second, after the collector has sampled them for a while. Also prints
# the history's size at the end.
#
#   bench/metrics/rss.sh                 # 50 instances
#   INSTANCES=10 SETTLE=30 bench/metrics/rss.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

INSTANCES=${INSTANCES:-50}
SETTLE=${SETTLE:-60}
HTTP=${HTTP:-127.0.0.1:28380}
tmp=$(mktemp -d)
daemon_pid=
cleanup() {
  if [ -n "$daemon_pid" ]; then
    for i in $(seq "$INSTANCES"); do "$tmp/quai" --data-dir "$tmp/data" rm "rss$i-dev" --yes >/dev/null 2>&1 || true; done
    kill "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

go build -trimpath -o "$tmp/quai" ./cmd/quai
mkdir -p "$tmp/data"
rss() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$daemon_pid/status"; }
"$tmp/quai" --data-dir "$tmp/data" serve --http "$HTTP" --https off --no-kubernetes --docker-host off \
  --metrics 127.0.0.1:0 --log-level warn 2>"$tmp/serve.log" &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$tmp/data/quai.sock" ] && break; sleep 0.1; done
sleep "$SETTLE"
idle=$(rss)

for i in $(seq "$INSTANCES"); do
  mkdir -p "$tmp/p$i"
  cat > "$tmp/p$i/compose.yaml" <<YAML
x-quai:
  project: rss$i
  routes:
    - path: /
      service: web
      port: 8080
      tls: "off"
services:
  web:
    image: python:3-slim
    expose: [8080]
    x-quai:
      process:
        command: ["python3", "-m", "http.server", "\$\${PORT}", "--bind", "127.0.0.1", "--directory", "/tmp"]
YAML
  "$tmp/quai" --data-dir "$tmp/data" up "$tmp/p$i" --env dev -y >/dev/null
done
# A request a second to every instance while the collector samples.
end=$((SECONDS + SETTLE))
while [ $SECONDS -lt $end ]; do
  for i in $(seq "$INSTANCES"); do curl -s -o /dev/null -H "Host: rss$i.dev.localhost" "http://$HTTP/" || true; done
  sleep 1
done
loaded=$(rss)
size=$(du -k "$tmp/data/metrics.db"* | awk '{ s += $1 } END { printf "%.1f", s / 1024 }')
echo "daemon RSS idle:                 $idle MiB"
echo "daemon RSS with $INSTANCES instances: $loaded MiB (history on, ${SETTLE}s of samples and traffic)"
echo "metrics history after ${SETTLE}s: $size MiB"
