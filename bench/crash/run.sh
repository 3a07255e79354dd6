#!/usr/bin/env bash
# Crash-loop benchmark: the time from `quai up` of a service that crashes at
# every start (it prints a Python traceback and exits 1) until `quai up`
# fails, with the traceback in its output (a warning says when it lacks
# it), on the process runtime and, when a Docker Engine answers, on Docker.
# A fresh install each round; medians of ROUNDS rounds. The deploy's health
# timeout is the daemon's default (2m): the figure shows whether up waits
# for it or fails on the crashes.
#
# Knobs (environment): ROUNDS (5), QUAI (the binary; default bin/quai,
# built), DOCKER=0 to skip Docker. It runs its own daemon (own data
# directory, proxy on a free loopback port) and removes what it deploys.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

rounds=${ROUNDS:-5}
q=${QUAI:-$root/bin/quai}
[ -n "${QUAI:-}" ] || make -s build

work=$(mktemp -d)
export QUAI_DATA_DIR=$work/quai
daemon_pid=""
cleanup() {
  set +e
  if [ -S "$QUAI_DATA_DIR/quai.sock" ]; then
    for name in crashbench-dev; do "$q" rm "$name" --purge -y >/dev/null 2>&1; done
  fi
  if [ -n "$daemon_pid" ]; then
    kill -TERM "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null
  fi
  docker rmi quai-bench/crash:latest >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

die() {
  echo "bench/crash: $*" >&2
  [ -f "$work/daemon.log" ] && tail -20 "$work/daemon.log" >&2
  exit 1
}

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

traceback='Traceback (most recent call last):
  File "/srv/app/main.py", line 3, in <module>
    import flask
ModuleNotFoundError: No module named '"'"'flask'"'"''

# The test app of the runtime suite, static, prints its argument and exits
# with the code given: the crashing "app" on both runtimes.
proj=$work/crashbench
mkdir -p "$proj"
CGO_ENABLED=0 go build -trimpath -o "$proj/app" ./internal/runtime/runtimetest/testapp
printf 'FROM scratch\nCOPY app /app\nENTRYPOINT ["/app"]\n' >"$proj/Dockerfile"
# JSON strings are YAML strings: the traceback goes in as one argument.
tb_json=$(printf '%s' "$traceback" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))' 2>/dev/null ||
  printf '"%s"' "$(printf '%s' "$traceback" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | awk '{ printf "%s\\n", $0 }')")
cat >"$proj/compose.yaml" <<EOF
x-quai:
  project: crashbench
  routes:
    - { path: /, service: web, port: 8080, tls: "off" }
services:
  web:
    build: .
    image: quai-bench/crash:latest
    command: ["echo", $tb_json, "1"]
    environment:
      QUAI_TESTAPP: "1"
    expose: ["8080"]
    x-quai:
      health: { path: /healthz }
      process:
        command: ["./app", "echo", $tb_json, "1"]
EOF

"$q" serve --http 127.0.0.1:0 --https off --log-level warn >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$QUAI_DATA_DIR/quai.sock" ] && "$q" ls >/dev/null 2>&1 && break; sleep 0.1; done
"$q" ls >/dev/null 2>&1 || die "the daemon did not start"

runtimes=(process)
if [ "${DOCKER:-1}" != 0 ] && docker info >/dev/null 2>&1; then
  runtimes+=(docker)
fi

# round RUNTIME: seconds from up to its failure; the output must show the
# traceback.
round() {
  local t0 t code=0
  t0=$(now)
  "$q" up "$proj" --runtime "$1" -y >"$work/up.log" 2>&1 || code=$?
  t=$(elapsed "$t0" "$(now)")
  [ "$code" -ne 0 ] || die "quai up of the crash-looping service succeeded on $1"
  grep -q "ModuleNotFoundError: No module named 'flask'" "$work/up.log" ||
    echo "bench/crash: the failed up on $1 does not show the traceback (see the output below)" >&2
  "$q" rm crashbench-dev --purge -y >/dev/null 2>&1 || die "quai rm failed"
  echo "$t"
}

printf '%-52s %s\n' "measure" "value"
printf '%-52s %s\n' "----------------------------------------------------" "----------"
for rt in "${runtimes[@]}"; do
  times=()
  for _ in $(seq 1 "$rounds"); do times+=("$(round "$rt")"); done
  printf '%-52s %ss (%s)\n' "crash loop: quai up -> failed, $rt, median" "$(printf '%s\n' "${times[@]}" | median)" "${times[*]}"
done
echo
echo "the last failure, as quai up printed it:"
cat "$work/up.log"
