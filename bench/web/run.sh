#!/usr/bin/env bash
# Dashboard figures (issue 14): the instances page with 500 instances on a
# real daemon (server time: first byte and full response), the JS+CSS each
# page loads (gzip, as served), and the dashboard's own render time on a
# stubbed API of 500 instances. The browser's figures (load in Chromium,
# memory with tabs following logs) are printed by the browser tests:
#   go test -v -run 'TestInstancesPage500InBrowser|TestDashboard$' ./test/e2e/web/
#
#   bench/web/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
go test -run '^$' -bench BenchmarkInstancesPage -benchtime 1x -count 1 ./bench/web/
go test -count 1 -v -run TestPageWeight ./internal/web/ | grep -E 'page .*JS\+CSS'
go test -run '^$' -bench BenchmarkInstancesPage -benchtime 50x -count 1 ./internal/web/ | grep -E 'Benchmark|ms/page'
