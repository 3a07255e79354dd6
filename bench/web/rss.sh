#!/usr/bin/env bash
# Daemon memory with the dashboard open in TABS (5) tabs following logs.
#
# Starts its own `quai serve` (its own data directory, the dashboard on a
# loopback port), installs a one-service stack on the process runtime that
# logs ten lines a second, opens a dashboard session with `quai dashboard`'s
# one-time link, then for each tab loads the instance's page and keeps its
# live-log stream open (the server-sent events the page's script follows;
# curl stands in for the browser, the daemon's side is the same). Prints the
# daemon's resident memory idle, after the install, and after 15 s with the
# tabs following. Removes everything at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
tabs=${TABS:-5}
make -s build >/dev/null
q=$PWD/bin/quai
work=$(mktemp -d)
export QUAI_DATA_DIR=$work/data
proj=$work/proj
mkdir -p "$proj"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -S "$QUAI_DATA_DIR/quai.sock" ] && timeout 60 "$q" rm ticker-dev -y --purge >/dev/null 2>&1 || true
  pid=$(cat "$work/serve.pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && sleep 1
  rm -rf "$work"
}
trap cleanup EXIT
cat >"$proj/compose.yaml" <<'YAML'
name: ticker
x-quai:
  project: ticker
services:
  app:
    image: busybox
    x-quai:
      process: {command: ["sh", "-c", "i=0; while true; do i=$$((i+1)); echo tick $$i; sleep 0.1; done"]}
YAML
"$q" serve --dashboard 127.0.0.1:0 --http 127.0.0.1:0 --https off >"$work/serve.log" 2>&1 &
echo $! >"$work/serve.pid"
for _ in $(seq 100); do [ -S "$QUAI_DATA_DIR/quai.sock" ] && "$q" ls >/dev/null 2>&1 && break; sleep 0.2; done
rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$(cat "$work/serve.pid")/status"; }
idle=$(rss)
"$q" up "$proj" --env dev -y >/dev/null
sleep 3
installed=$(rss)
link=$("$q" dashboard --json | sed -n 's/.*"url": *"\([^"]*\)".*/\1/p')
base=${link%%/ui/*}
curl -fsS -c "$work/jar" -b "$work/jar" -L -o /dev/null "$link"
for _ in $(seq "$tabs"); do
  curl -fsS -b "$work/jar" -o /dev/null "$base/ui/i/ticker-dev"
  curl -fsS -N -b "$work/jar" -H 'Accept: text/event-stream' "$base/ui/i/ticker-dev/logs" >"$work/tab-$RANDOM.log" &
  pids+=($!)
done
sleep 15
lines=$(cat "$work"/tab-*.log | grep -c '^event: log' || true)
echo "tabs=$tabs daemon_rss_idle_mib=$idle daemon_rss_installed_mib=$installed daemon_rss_with_tabs_mib=$(rss) log_events_streamed=$lines"
