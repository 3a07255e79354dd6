#!/usr/bin/env bash
# The proxy process (docs/edge.md): requests failed under a continuous load
# through the proxy (WORKERS keep-alive clients, 1 ms apart, and an open
# WebSocket) across RESTARTS daemon restarts (SIGTERM, then start), KILLS
# more with kill -9, and UPGRADES upgrades (the daemon to a freshly built
# quai, which adopts the proxy, then `quai proxy upgrade` to it by socket
# handoff, alternating two builds); the proxy process's RSS idle and with
# ROUTES more routes; the daemon's RSS idle with the proxy in its own
# process and, for comparison, inside it (--proxy-in-daemon). RSS is
# total / anonymous / file-backed, from /proc/PID/status.
#
# Knobs (environment): RESTARTS (10), KILLS (0), UPGRADES (3), ROUTES
# (1000), WORKERS (4). It builds quai twice as `make build` does (versions
# edge-a and edge-b) into a temporary directory, runs its own daemon on a data directory of
# its own with the proxy on a free loopback port, and removes everything.
set -euo pipefail
cd "$(dirname "$0")/../.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/a" "$work/b"
# As `make build` builds a release: static, trimmed, stripped (the memory
# figures count the binary's file-backed pages).
for v in a b; do
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/quai-dev/quai/internal/version.Version=edge-$v" -o "$work/$v/quai" ./cmd/quai
done
go build -o "$work/edgebench" ./bench/edge
"$work/edgebench" -a "$work/a/quai" -b "$work/b/quai" \
  -restarts "${RESTARTS:-10}" -kills "${KILLS:-0}" -upgrades "${UPGRADES:-3}" \
  -routes "${ROUTES:-1000}" -workers "${WORKERS:-4}"
