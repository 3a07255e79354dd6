#!/usr/bin/env bash
# Runs every test with the race detector and fails when a test that needs a
# real engine skipped while CI=true: CI installs and starts every engine, so a
# skip there means a missing install step, not a pass.
#
# The end-to-end packages (test/e2e/...) and the Kubernetes runtime (a real
# single-node cluster) run after the others, one at a time: they act on whole
# engines (image prune, orphan cleanup at daemon start) or need the machine's
# cores to themselves, so they must not run beside the other engine tests.
set -euo pipefail
log=$(mktemp)
trap 'rm -f "$log"' EXIT
filter() { grep -Ev '^\s*(=== (RUN|PAUSE|CONT)|--- PASS)'; }
mapfile -t e2e < <(go list ./internal/runtime/kube/... ./test/e2e/... 2>/dev/null | grep -v '/e2etest$' || true)
mapfile -t rest < <(go list ./... | grep -v -e '/test/e2e/' -e '/internal/runtime/kube')
set +e
go test -race -count=1 -timeout 30m -v "${rest[@]}" 2>&1 | tee "$log" | filter
status=${PIPESTATUS[0]}
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
