#!/usr/bin/env bash
# Daemon memory with many instances whose stacks use sealed secrets.
#
# Installs N (default 50) instances, one organization each, of a one-service
# stack on the process runtime: the service receives a secret sealed in the
# project's secrets/dev.yaml (per organization, in
# orgs/<org>/secrets/dev.yaml, through `quai secrets set`) as a file and a
# generated one through x-quai.secret_env. It prints the daemon's resident
# memory idle before the installs, after them, and the same for a stack
# without secrets (SEALED=0) when run again, so the two can be compared.
#
# Knobs: N (50), SEALED (1). Uses its own data directory and daemon; removes
# everything at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${N:-50}
sealed=${SEALED:-1}
make -s build >/dev/null
q=$PWD/bin/quai
work=$(mktemp -d)
export QUAI_DATA_DIR=$work/data
proj=$work/proj
mkdir -p "$proj"
cleanup() {
  pid=$(cat "$work/serve.pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && sleep 1
  rm -rf "$work"
}
trap cleanup EXIT

if [ "$sealed" = 1 ]; then
  cat >"$proj/compose.yaml" <<'YAML'
name: rss
secrets:
  api_token: {external: true}
  session_key: {external: true}
x-quai:
  project: rss
  secrets:
    session_key: {generate: hex32}
services:
  app:
    image: busybox
    secrets: [api_token]
    x-quai:
      secret_env: {SESSION_KEY: session_key}
      process: {command: ["sleep", "86400"]}
YAML
else
  cat >"$proj/compose.yaml" <<'YAML'
name: rss
x-quai:
  project: rss
services:
  app:
    image: busybox
    environment: {SESSION_KEY: not-a-secret}
    x-quai:
      process: {command: ["sleep", "86400"]}
YAML
fi

"$q" serve >"$work/serve.log" 2>&1 &
echo $! >"$work/serve.pid"
for _ in $(seq 100); do "$q" ls >/dev/null 2>&1 && break; sleep 0.1; done
rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$(cat "$work/serve.pid")/status"; }
idle=$(rss)
start=$(date +%s.%N)
for i in $(seq "$n"); do
  if [ "$sealed" = 1 ]; then
    printf 'token-%s' "$i" | "$q" secrets set "$proj" --env dev --org "o$i" api_token >/dev/null
  fi
  "$q" up "$proj" --env dev --org "o$i" -y >/dev/null
done
secs=$(echo "$(date +%s.%N) - $start" | bc)
sleep 5
echo "instances=$n sealed=$sealed install_total_s=$secs daemon_rss_idle_mib=$idle daemon_rss_after_mib=$(rss)"
"$q" ls >/dev/null
