#!/usr/bin/env bash
# Runs every test with the race detector and fails when a test that needs a
# real engine skipped while CI=true: CI installs and starts every engine, so a
# skip there means a missing install step, not a pass.
#
# The Kubernetes runtime (a real single-node cluster) and the end-to-end
# packages other than Docker's run after the others, one at a time: they need
# the machine's cores to themselves. The Docker end-to-end tests run beside
# the other engine tests: each daemon cleans up and prunes only what carries
# its own identity (DATA_DIR/daemon.id), so daemons sharing the engine leave
# each other's containers, networks and images alone.
set -euo pipefail
log=$(mktemp)
trap 'rm -f "$log"' EXIT
filter() { grep -Ev '^\s*(=== (RUN|PAUSE|CONT)|--- PASS)'; }
# Packages whose tests start the Kubernetes test cluster: its runtime, the
# end-to-end tests, and any other package named for it (…/dumpkube).
mapfile -t e2e < <(go list ./internal/runtime/kube/... ./test/e2e/... 2>/dev/null | grep -v -e '/e2etest$' -e '/test/e2e/docker$' || true; go list ./... | grep -E '/[a-z]+kube$' | grep -v '/internal/runtime/kube' || true)
mapfile -t rest < <(go list ./... | grep -v -e '/test/e2e/' -e '/internal/runtime/kube' -E -e '/[a-z]+kube$' || true; go list ./test/e2e/docker/... 2>/dev/null || true)
set +e
go test -race -count=1 -timeout 30m -v "${rest[@]}" 2>&1 | tee "$log" | filter
status=${PIPESTATUS[0]}
# The example is a module of its own, so that it builds when copied out of
# the repository; ./... above does not reach it.
(cd examples/users-api && go test -race -count=1 -timeout 10m -v ./...) 2>&1 | tee -a "$log" | filter
[ "${PIPESTATUS[0]}" = 0 ] || status=1
if [ ${#e2e[@]} -gt 0 ]; then
  go test -race -count=1 -timeout 30m -p 1 -v "${e2e[@]}" 2>&1 | tee -a "$log" | filter
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi
set -e
passed=$(grep -cE '^\s*--- PASS' "$log" || true)
failed=$(grep -cE '^\s*--- FAIL' "$log" || true)
skipped=$(grep -cE '^\s*--- SKIP' "$log" || true)
if [ "${CI:-}" = true ] && [ "$skipped" -gt 0 ]; then
  echo "tests skipped in CI (every engine must be installed and running):" >&2
  grep -E -A1 '^\s*--- SKIP' "$log" >&2
  status=1
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
