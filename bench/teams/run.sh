#!/usr/bin/env bash
# Teams benchmark (issue 13): API latency p50/p99 of status and ls over TLS
# with 1,000 instances across 20 organizations (seeded in the store: each
# with an active release and no replica), the cost of authentication and
# authorization per request (the same API served with and without a
# token over the same kind of TLS listener), and the daemon's memory with
# 100 users and tokens. See BenchmarkTeamsAPI in
# internal/auth/accounts/bench_test.go.
#
#   bench/teams/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
go test -run '^$' -bench BenchmarkTeamsAPI -benchtime 1x -count 1 ./internal/auth/accounts/
