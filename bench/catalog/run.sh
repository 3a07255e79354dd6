#!/usr/bin/env bash
# The catalog's report and its one timed figure.
#
# 1. The list of built-in entries with their lint result for env prod
#    (quai lint --env prod --fail-on warning), their suppressions and what
#    runs them end to end: TestCatalogReport prints it as the table of
#    docs/catalog.md.
# 2. Time from `quai catalog install wordpress` to WordPress's install page
#    answering through quai's proxy on a local Docker Engine, images present
#    (built once from Debian packages and cached by content):
#    TestCatalogWordPressOnDocker prints it as a FIGURE line, ROUNDS (3)
#    times; the median is printed last.
# 3. Time from `quai catalog install syncthing` to its health endpoint
#    answering through quai's proxy (TestCatalogSyncthingOnDocker, once;
#    SYNCTHING=0 skips it).
#
# Needs a Docker Engine and scripts/deps.sh's packages; cleans up after
# itself (the tests remove their containers, volumes and image tags).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${ROUNDS:-3}
go test -count=1 -v -run '^TestCatalogReport$' ./internal/catalog/ | sed -n 's/^ *\(|.*\)$/\1/p'
figures=()
for i in $(seq "$rounds"); do
  line=$(go test -count=1 -v -timeout 20m -run '^TestCatalogWordPressOnDocker$' ./test/e2e/docker/ | grep 'FIGURE' || true)
  if [ -z "$line" ]; then
    echo "round $i: the WordPress end-to-end test printed no figure (did it fail or skip?)" >&2
    exit 1
  fi
  echo "round $i: ${line#*FIGURE }"
  figures+=("$(sed -E 's/.*through the proxy: ([0-9.]+)(m?s).*/\1 \2/' <<<"$line" | awk '{ print ($2 == "ms") ? $1/1000 : $1 }')")
done
printf '%s\n' "${figures[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "median of %d rounds: %.2f s from quai catalog install wordpress to the page answering\n", NR, a[int((NR + 1) / 2)] }'
if [ "${SYNCTHING:-1}" != 0 ]; then
  line=$(go test -count=1 -v -timeout 20m -run '^TestCatalogSyncthingOnDocker$' ./test/e2e/docker/ | grep 'FIGURE' || true)
  if [ -z "$line" ]; then
    echo "the Syncthing end-to-end test printed no figure (did it fail or skip?)" >&2
    exit 1
  fi
  echo "syncthing: ${line#*FIGURE }"
fi
