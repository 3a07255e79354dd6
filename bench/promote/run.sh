#!/usr/bin/env bash
# Promotion benchmark, on the local Docker Engine, nothing pulled: wall time
# of `quai promote --from staging --to prod -y` against a plain
# `quai up --env prod -y` of the same target, each replacing the target's
# one replica with a new image. Each of ROUNDS rounds changes the build
# context, deploys staging (a build, not measured), promotes staging to prod
# (measured: the rules, the plan, the switch; nothing built), then runs
# `up` of prod from the same context (measured: a build of the same
# sources, from Docker's layer cache, the plan, the switch). Medians and
# their ratio.
# Everything it deploys is removed at the end, with the images it built.
#
# Knobs (environment): ROUNDS (5), DOCKER_HOST.
# It runs its own daemon (own data directory, proxy on a free loopback port).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

rounds=${ROUNDS:-5}
q=$root/bin/quai
work=$(mktemp -d)
export QUAI_DATA_DIR=$work/quai
daemon_pid=""

cleanup() {
  set +e
  if [ -S "$QUAI_DATA_DIR/quai.sock" ]; then
    for name in promobench-staging promobench-prod; do
      "$q" rm "$name" --purge -y >/dev/null 2>&1
    done
  fi
  if [ -n "$daemon_pid" ]; then
    kill -TERM "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null
  fi
  # The images this benchmark built (staging's; prod's builds are the same).
  docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^quai-default-promobench-(staging|prod)-web:' |
    xargs -r docker rmi >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

die() {
  echo "bench/promote: $*" >&2
  [ -f "$work/daemon.log" ] && tail -20 "$work/daemon.log" >&2
  exit 1
}

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
info() {
  curl -fsS --max-time 5 --unix-socket "$QUAI_DATA_DIR/quai.sock" http://quai/api/v1/info |
    sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}

docker info >/dev/null 2>&1 || die "no Docker Engine answers (scripts/deps.sh starts one)"
make -s build

# A one-service project: a static HTTP server in a scratch image, answering
# its version on /.
proj=$work/promobench
mkdir -p "$proj/envs" "$work/app"
cat >"$work/app/main.go" <<'GO'
package main

import (
	"net/http"
	"os"
)

func main() {
	v, _ := os.ReadFile("/version")
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(v) })
	_ = http.ListenAndServe(":8080", nil)
}
GO
(cd "$work/app" && printf 'module app\n\ngo 1.22\n' >go.mod && CGO_ENABLED=0 go build -o "$proj/app" .) || die "cannot build the app"
cat >"$proj/Dockerfile" <<'EOF2'
FROM scratch
COPY app /app
COPY version /version
ENTRYPOINT ["/app"]
EOF2
printf 'compose.yaml\nenvs\n.env\n' >"$proj/.dockerignore"
cat >"$proj/compose.yaml" <<'EOF2'
x-quai:
  project: promobench
  routes:
    - { path: /, service: web, port: 8080, tls: "off" }
services:
  web:
    build: .
    environment:
      VERSION: ${VERSION}
    expose: ["8080"]
    x-quai:
      health: { path: / }
EOF2
: >"$proj/envs/staging.yaml"
cat >"$proj/envs/prod.yaml" <<'EOF2'
x-quai:
  promotion:
    from: [staging]
EOF2

"$q" serve --http 127.0.0.1:0 --https off --log-level warn >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do info pid >/dev/null 2>&1 && break; sleep 0.1; done
[ "$(info pid)" = "$daemon_pid" ] || die "the daemon did not start"

run() { "$@" >"$work/cmd.log" 2>&1 || { cat "$work/cmd.log" >&2; die "$* failed"; }; }
timed() {
  local t0
  t0=$(now)
  run "$@"
  elapsed "$t0" "$(now)"
}

echo "warm-up: staging and prod installed once"
echo warm >"$proj/version"
echo VERSION=warm >"$proj/.env"
run "$q" up "$proj" --env staging --runtime docker -y
run "$q" up "$proj" --env prod --runtime docker -y --allow QL016

promote_times=() up_times=()
for r in $(seq 1 "$rounds"); do
  # A new version: new sources and a new VERSION, so staging's up builds
  # and replaces (the service's settings changed), and so would prod's.
  echo "round $r" >"$proj/version"
  echo "VERSION=round-$r" >"$proj/.env"
  run "$q" up "$proj" --env staging -y
  pt=$(timed "$q" promote "$proj" --from staging --to prod -y --allow QL016)
  want="promoted from promobench-staging release $("$q" releases promobench-staging | awk '/^\*/ { print substr($1, 2) }')"
  "$q" releases promobench-prod | grep -q "$want" || {
    "$q" releases promobench-staging >&2
    "$q" releases promobench-prod >&2
    die "round $r: prod's active release is not the promotion of staging's ($want)"
  }
  ut=$(timed "$q" up "$proj" --env prod -y --allow QL016)
  promote_times+=("$pt")
  up_times+=("$ut")
  printf '  round %d: promote %ss, up %ss\n' "$r" "$pt" "$ut"
done
pm=$(printf '%s\n' "${promote_times[@]}" | median)
um=$(printf '%s\n' "${up_times[@]}" | median)
ratio=$(awk -v a="$pm" -v b="$um" 'BEGIN { printf "%.2f", a / b }')

printf '\n%-55s %s\n' "measure" "value"
printf '%-55s %s\n' "-------------------------------------------------------" "----------"
printf '%-55s %ss (%s)\n' "quai promote --from staging --to prod -y, median" "$pm" "${promote_times[*]}"
printf '%-55s %ss (%s)\n' "quai up --env prod -y (build from layer cache), median" "$um" "${up_times[*]}"
printf '%-55s %s\n' "ratio promote / up" "$ratio"
"$q" releases promobench-prod | head -4
