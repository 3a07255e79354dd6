#!/usr/bin/env bash
# Runs every Fuzz* target in the module for a bounded time each.
set -euo pipefail
time=${1:-30s}
found=0
while read -r pkg; do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    found=1
    echo "fuzz: $pkg $target for $time"
    # Go minimises every input that finds new coverage, for up to 60 s by
    # default, one whole run of the target per try: with the stack loader's
    # kilobyte seeds that took the whole budget and FuzzLoad explored
    # nothing (execs stuck at 0/s). 100 tries per input keeps it exploring.
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$time" -fuzzminimizetime 100x "$pkg"
  done
done < <(go list ./...)
[ "$found" = 1 ] || { echo "fuzz: no fuzz targets found" >&2; exit 1; }
