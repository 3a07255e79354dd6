#!/usr/bin/env bash
# Until the deploy path lands: a tour of lint, config and render on the example stacks.
set -euo pipefail
q=./bin/quai
for d in testdata/stacks/*/; do
  echo "== quai lint $d --env prod"
  $q lint "$d" --env prod || true
done
