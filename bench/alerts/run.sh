#!/usr/bin/env bash
# Alerts benchmark: time from a replica crash (kill -9 of its app on the
# process runtime) to the webhook that reports it, ROUNDS times (one replica
# each), with the median and its ratio to the 5 s goal. See main.go.
#
#   bench/alerts/run.sh
#   ROUNDS=20 bench/alerts/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/alertbench" ./bench/alerts
"$tmp/alertbench" -rounds "${ROUNDS:-10}"
