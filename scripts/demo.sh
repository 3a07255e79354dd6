#!/usr/bin/env bash
# make demo: deploy examples/users-api (Go API + PostgreSQL + static page) on
# the process runtime and print the URL to open. Run after `make build`.
#
# It installs PostgreSQL from Debian when the server binaries are missing (as
# root; otherwise it prints the command), builds the example's binaries, runs
# `quai up` (which starts a local daemon when none runs), then checks the page
# and the API through quai's proxy. When something does not answer it says
# which service and prints its logs.
#
# To run it beside another quai daemon, give it its own state and ports:
#   QUAI_DATA_DIR=/tmp/quai-demo QUAI_HTTP=127.0.0.1:18080 QUAI_HTTPS=127.0.0.1:18443 make demo
set -euo pipefail
cd "$(dirname "$0")/.."

q=./bin/quai
project=examples/users-api
instance=users-api-dev
host=users-api.dev.localhost
wait_secs=${QUAI_DEMO_WAIT:-90}
# The daemon's data directory, resolved as quai does (QUAI_DATA_DIR selects
# another daemon, e.g. one started with `quai serve --http 127.0.0.1:18080`).
data_dir=${QUAI_DATA_DIR:-${XDG_DATA_HOME:+$XDG_DATA_HOME/quai}}
if [ -z "$data_dir" ]; then
  if [ "$(id -u)" = 0 ]; then data_dir=/var/lib/quai; else data_dir=$HOME/.local/share/quai; fi
fi

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# show_logs SERVICE...: what a user needs to see when a service misbehaves.
show_logs() {
  for svc in "$@"; do
    echo "---- $q logs $instance $svc (last lines)" >&2
    "$q" logs "$instance" "$svc" --tail 40 >&2 || true
  done
}

fail() {
  local msg=$1
  shift
  echo >&2
  echo "demo failed: $msg" >&2
  echo "---- $q status $instance" >&2
  "$q" status "$instance" >&2 || true
  show_logs "$@"
  exit 1
}

[ -x "$q" ] || { echo "demo: $q is missing: run \`make build\` first (or \`make demo\`, which does)" >&2; exit 2; }

step "PostgreSQL server binaries"
if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null; then
  echo "found: $(compgen -G '/usr/lib/postgresql/*/bin/postgres' | head -n1 || command -v postgres)"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "not installed: installing the Debian package postgresql"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
else
  echo "demo: the PostgreSQL server binaries are missing; install them and run \`make demo\` again:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y postgresql" >&2
  exit 2
fi

step "Build the example's binaries ($project/bin)"
make -s -C "$project"

step "Deploy: $q up $project --env dev -y"
if ! "$q" up "$project" --env dev -y; then
  fail "\`quai up\` did not complete" db api web
fi

# Where the daemon's proxy listens for HTTP: its info names the address.
info=$(curl -fsS --max-time 5 --unix-socket "$data_dir/quai.sock" http://quai/api/v1/info) ||
  fail "the quai daemon does not answer on $data_dir/quai.sock (its log: $data_dir/daemon.log)"
http_addr=$(sed -n 's/.*"http_addr":"\([^"]*\)".*/\1/p' <<<"$info")
[ -n "$http_addr" ] || fail "the quai daemon's proxy does not listen for HTTP (started with --http off?)"
port=${http_addr##*:}
url="http://$host:$port"
daemon_pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' <<<"$info")

# wait_for URL WHAT CHECK SERVICES...: poll URL until its body matches the
# grep pattern CHECK; on timeout fail with the services' logs.
wait_for() {
  local target=$1 what=$2 check=$3
  shift 3
  local deadline=$((SECONDS + wait_secs)) body=""
  printf 'waiting for %s at %s ' "$what" "$target"
  while :; do
    # --resolve: *.localhost is loopback, whatever the resolver in use says.
    if body=$(curl -fsS --max-time 3 --resolve "$host:$port:127.0.0.1" "$target" 2>&1) && grep -q -- "$check" <<<"$body"; then
      echo "ok"
      return 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "timed out"
      fail "$what did not answer through quai's proxy at $target within ${wait_secs}s (last answer: ${body:0:200})" "$@"
    fi
    printf '.'
    sleep 1
  done
}

step "Check through quai's proxy"
wait_for "$url/" "the page" "<title>Users" web
wait_for "$url/api/users" "the API" '^\[' api db
wait_for "$url/api/version" "the API version" '"version"' api

# A first user so the page is not empty; 409 on later runs is fine.
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 --resolve "$host:$port:127.0.0.1" \
  -H 'Content-Type: application/json' -d '{"name":"Ada Lovelace","email":"ada@example.com"}' "$url/api/users")
case $code in
  201) echo "created a first user (Ada Lovelace)" ;;
  409) echo "the first user already exists" ;;
  *) fail "POST $url/api/users answered HTTP $code, want 201 or 409" api db ;;
esac

step "Status"
"$q" status "$instance"

cat <<MSG

users-api is running: open $url/
  API:      curl $url/api/users
  logs:     $q logs $instance api
  update:   APP_VERSION=2 $q up $project --env dev -y   (then curl $url/api/version)
  remove:   $q rm $instance -y   (keeps the database; --purge deletes it)
  stop the daemon: kill $daemon_pid   (or: pkill -f 'quai serve'); apps keep running and
                   the proxy process keeps serving them ("$q proxy stop" stops it too)
MSG
