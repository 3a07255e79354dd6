#!/usr/bin/env bash
# Docker benchmark, on the local Docker Engine, nothing pulled:
#   (a) time from `quai up --runtime docker` to examples/users-api answering
#       through quai's proxy, against Debian's docker-compose `up -d` of the
#       file `quai render --target compose` prints, to the same services
#       answering on loopback ports published for the measure. Same engine,
#       same local images (built once by quai, PostgreSQL made from the
#       host's packages and tagged postgres:15), a fresh install each time
#       (volumes removed, so PostgreSQL initialises its data each time),
#       ROUNDS interleaved rounds; medians and their ratio. quai builds the
#       services with a build section on every install (a cached build), as
#       `docker-compose up -d --build` does, which is measured too; plain
#       `up -d` reuses the tagged images without building.
#       The same for an update: from `quai up` of a new APP_VERSION (api and
#       web replaced; quai's cached build included) to the new version
#       answering, against `docker-compose up -d` of the file rendered for
#       that version (the images exist: quai built them) recreating the
#       containers.
#   (b) the quai daemon's resident memory with INSTANCES instances of a
#       one-service app (the example's static frontend) on Docker
#       (INSTANCES=0 skips it).
# Everything it deploys is removed at the end, with the images it built.
#
# Knobs (environment): ROUNDS (5), INSTANCES (20), DOCKER_HOST.
# It runs its own daemon (own data directory, proxy on a free loopback port).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

rounds=${ROUNDS:-5}
instances=${INSTANCES:-20}
deadline_secs=180
q=$root/bin/quai
example=$root/examples/users-api
instance=bench/users-api-dev
host=users-api.dev.localhost
compose_project=quaibench

work=$(mktemp -d)
export QUAI_DATA_DIR=$work/quai
daemon_pid=""
compose_file=$work/compose.yaml
compose_update_file=$work/compose-update.yaml
ports_file=$work/ports.yaml

compose() { docker-compose -p "$compose_project" -f "$compose_file" -f "$ports_file" "$@"; }
compose_update() { docker-compose -p "$compose_project" -f "$compose_update_file" -f "$ports_file" "$@"; }

cleanup() {
  set +e
  if [ -S "$QUAI_DATA_DIR/quai.sock" ]; then
    for name in $("$q" ls --json 2>/dev/null | sed -n 's/^    "name": "\(.*\)",$/\1/p'); do
      "$q" rm "$name" --purge -y >/dev/null 2>&1 || echo "bench/docker: could not remove $name" >&2
    done
  fi
  [ -f "$compose_file" ] && compose down -v --remove-orphans >/dev/null 2>&1
  if [ -n "$daemon_pid" ]; then
    kill -TERM "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null
  fi
  # The images this benchmark built: quai's build tags and the stack's tags.
  docker images --format '{{.Repository}}:{{.Tag}}' |
    grep -E '^(quai-bench-|quai-b[0-9]+-light-|users-api/(api|web):bench(u)?$)' |
    xargs -r docker rmi >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

die() {
  echo "bench/docker: $*" >&2
  [ -f "$work/daemon.log" ] && tail -20 "$work/daemon.log" >&2
  exit 1
}

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# info FIELD: a field of the daemon's GET /api/v1/info.
info() {
  curl -fsS --max-time 5 --unix-socket "$QUAI_DATA_DIR/quai.sock" http://quai/api/v1/info |
    sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}

# wait_for URL HOST [TEXT]: until URL answers 2xx with Host: HOST (and a
# body that contains TEXT).
wait_for() {
  local limit=$((SECONDS + deadline_secs))
  until curl -fsS --max-time 2 -H "Host: $2" "$1" 2>/dev/null | grep -qF -- "${3:-}"; do
    [ "$SECONDS" -lt "$limit" ] || die "$1 (Host: $2) did not answer ${3:+with $3 }within ${deadline_secs}s"
    sleep 0.05
  done
}

echo "preparing: quai, the example's binaries, docker-compose, the PostgreSQL image"
docker info >/dev/null 2>&1 || die "no Docker Engine answers (scripts/deps.sh starts one)"
command -v docker-compose >/dev/null || apt-get install -y docker-compose >/dev/null ||
  die "docker-compose is missing: apt-get install docker-compose"
make -s build
make -s -C "$example"
go run ./bench/docker/pgimage >/dev/null || die "cannot make the PostgreSQL image"

# The project as the benchmark deploys it: the example with its images
# tagged :bench, so the compose file runs the images quai built.
proj=$work/users-api
mkdir -p "$proj"
cp -r "$example/compose.yaml" "$example/envs" "$example/api" "$example/web" "$example/bin" "$proj/"
echo "APP_VERSION=bench" >"$proj/.env"

"$q" serve --http 127.0.0.1:0 --https off --log-level warn >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do info pid >/dev/null 2>&1 && break; sleep 0.1; done
[ "$(info pid)" = "$daemon_pid" ] || die "the daemon did not start"
curl -fsS --unix-socket "$QUAI_DATA_DIR/quai.sock" http://quai/api/v1/info | grep -q '"runtimes":\[[^]]*"docker"' ||
  die "the daemon has no docker runtime: $(info warnings)"
http_addr=$(info http_addr)
proxy="http://127.0.0.1:${http_addr##*:}"

# Docker Compose v1 (Debian's) knows neither the top-level name nor
# depends_on.required; the project name is given with -p instead.
"$q" render "$proj" --org bench --target compose 2>/dev/null |
  sed -e '/^name:/d' -e '/^ *required: true$/d' >"$compose_file"
# The updates run on a copy of the project, whose .env they change, so the
# fresh installs keep an untouched build context.
projU=$work/update/users-api
mkdir -p "$projU"
cp -r "$proj/." "$projU/"
echo "APP_VERSION=benchu" >"$projU/.env"
"$q" render "$projU" --org bench --target compose 2>/dev/null |
  sed -e '/^name:/d' -e '/^ *required: true$/d' >"$compose_update_file"
# The rendered file names the database password by x-quai.secret_env only
# (quai generates and seals it); docker-compose is given one here.
cat >"$ports_file" <<'EOF'
services:
  db:
    environment:
      POSTGRES_PASSWORD: bench
  api:
    ports: ["127.0.0.1::8080"]
    environment:
      PGPASSWORD: bench
  web:
    ports: ["127.0.0.1::8080"]
EOF

quai_round() {
  local t0
  t0=$(now)
  "$q" up "$proj" --org bench --runtime docker -y >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; die "quai up failed"; }
  wait_for "$proxy/api/version" "$host"
  wait_for "$proxy/" "$host"
  elapsed "$t0" "$(now)"
  "$q" rm "$instance" --purge -y >/dev/null || die "quai rm failed"
}

compose_round() {
  local t0 api web
  t0=$(now)
  compose up -d "$@" >"$work/compose.log" 2>&1 || { cat "$work/compose.log" >&2; die "docker-compose up failed"; }
  api=$(compose port api 8080)
  web=$(compose port web 8080)
  wait_for "http://$api/api/version" "$host"
  wait_for "http://$web/" "$host"
  elapsed "$t0" "$(now)"
  compose down -v >/dev/null 2>&1 || die "docker-compose down failed"
}

# quai_update_round: install (not timed), then time the update to
# APP_VERSION=benchu until the new api answers.
quai_update_round() {
  local t0
  echo "APP_VERSION=bench" >"$projU/.env"
  "$q" up "$projU" --org bench --runtime docker -y >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; die "quai up failed"; }
  wait_for "$proxy/api/version" "$host" '"bench"'
  echo "APP_VERSION=benchu" >"$projU/.env"
  t0=$(now)
  "$q" up "$projU" --org bench --runtime docker -y >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; die "quai up (update) failed"; }
  wait_for "$proxy/api/version" "$host" '"benchu"'
  wait_for "$proxy/" "$host"
  elapsed "$t0" "$(now)"
  "$q" rm "$instance" --purge -y >/dev/null || die "quai rm failed"
}

compose_update_round() {
  local t0 api web
  compose up -d >"$work/compose.log" 2>&1 || { cat "$work/compose.log" >&2; die "docker-compose up failed"; }
  wait_for "http://$(compose port api 8080)/api/version" "$host" '"bench"'
  t0=$(now)
  compose_update up -d >"$work/compose.log" 2>&1 || { cat "$work/compose.log" >&2; die "docker-compose up (update) failed"; }
  api=$(compose_update port api 8080)
  web=$(compose_update port web 8080)
  wait_for "http://$api/api/version" "$host" '"benchu"'
  wait_for "http://$web/" "$host"
  elapsed "$t0" "$(now)"
  compose_update down -v >/dev/null 2>&1 || die "docker-compose down failed"
}

echo "warm-up: quai builds the images once (and those of the update)"
quai_round >/dev/null
quai_update_round >/dev/null
compose_round >/dev/null
compose_update_round >/dev/null

quai_times=() compose_times=() build_times=() quai_update_times=() compose_update_times=()
for r in $(seq 1 "$rounds"); do
  qt=$(quai_round)
  ct=$(compose_round)
  bt=$(compose_round --build)
  qu=$(quai_update_round)
  cu=$(compose_update_round)
  quai_times+=("$qt")
  compose_times+=("$ct")
  build_times+=("$bt")
  quai_update_times+=("$qu")
  compose_update_times+=("$cu")
  printf '  round %d: quai %ss, docker-compose %ss, docker-compose --build %ss; update: quai %ss, docker-compose %ss\n' "$r" "$qt" "$ct" "$bt" "$qu" "$cu"
done
qm=$(printf '%s\n' "${quai_times[@]}" | median)
cm=$(printf '%s\n' "${compose_times[@]}" | median)
ratio=$(awk -v a="$qm" -v b="$cm" 'BEGIN { printf "%.2f", a / b }')
bm=$(printf '%s\n' "${build_times[@]}" | median)
build_ratio=$(awk -v a="$qm" -v b="$bm" 'BEGIN { printf "%.2f", a / b }')
qum=$(printf '%s\n' "${quai_update_times[@]}" | median)
cum=$(printf '%s\n' "${compose_update_times[@]}" | median)
update_ratio=$(awk -v a="$qum" -v b="$cum" 'BEGIN { printf "%.2f", a / b }')

# (b) INSTANCES instances of a one-service app.
light=$work/light
mkdir -p "$light"
cat >"$light/compose.yaml" <<'EOF'
x-quai:
  project: light
  default_host: "{org}.{project}.{env}.localhost"
  routes:
    - { path: /, service: web, port: 8080, tls: "off" }
services:
  web:
    image: users-api/web:bench
    expose: ["8080"]
    read_only: true
    user: "65532:65532"
    x-quai:
      size: nano
      health: { path: / }
EOF
deploy_all="" rss_kb=0 hwm_kb=0 threads=0 running=0
if [ "$instances" -gt 0 ]; then
echo "deploying $instances instances of a one-service app"
t0=$(now)
for i in $(seq 1 "$instances"); do
  "$q" up "$light" --org "b$i" --env dev --runtime docker -y >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; die "quai up of instance $i failed"; }
done
deploy_all=$(elapsed "$t0" "$(now)")
running=$("$q" ls 2>/dev/null | grep -c running || true)
sleep 5
rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$daemon_pid/status")
hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$daemon_pid/status")
threads=$(awk '/^Threads:/ { print $2 }' "/proc/$daemon_pid/status")
fi

printf '\n%-60s %s\n' "measure" "value"
printf '%-60s %s\n' "------------------------------------------------------------" "----------"
printf '%-60s %ss (%s)\n' "(a) quai up --runtime docker -> answering, median" "$qm" "${quai_times[*]}"
printf '%-60s %ss (%s)\n' "(a) docker-compose up -d -> answering, median" "$cm" "${compose_times[*]}"
printf '%-60s %s\n' "(a) ratio quai / docker-compose" "$ratio"
printf '%-60s %ss (%s)\n' "(a) docker-compose up -d --build -> answering, median" "$bm" "${build_times[*]}"
printf '%-60s %s\n' "(a) ratio quai / docker-compose --build (both build)" "$build_ratio"
printf '%-60s %ss (%s)\n' "(a) update: quai up -> new version answering, median" "$qum" "${quai_update_times[*]}"
printf '%-60s %ss (%s)\n' "(a) update: docker-compose up -d -> new version answering" "$cum" "${compose_update_times[*]}"
printf '%-60s %s\n' "(a) update ratio quai / docker-compose" "$update_ratio"
[ "$instances" -gt 0 ] || exit 0
printf '%-60s %ss\n' "(b) deploying $instances one-service instances, one after another" "$deploy_all"
printf '%-60s %s MiB (peak %s MiB, %s threads)\n' "(b) daemon RSS with $running instances running on Docker" "$((rss_kb / 1024))" "$((hwm_kb / 1024))" "$threads"
