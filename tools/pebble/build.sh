#!/usr/bin/env bash
# Builds the real Pebble ACME test server and its challenge test server
# (v2.10.3, from this wrapper module's pinned dependencies) into a cache
# directory, once per machine: the proxy's ACME tests (internal/proxy/acmetest)
# run them on loopback as the certificate authority and the DNS resolver.
#
#   tools/pebble/build.sh            # into ${QUAI_TOOLS_BIN:-$HOME/.cache/quai/tools}/pebble-v2.10.3/
#   QUAI_TOOLS_BIN=/opt/tools tools/pebble/build.sh
#
# Prints the directory holding pebble and pebble-challtestsrv on its last line.
set -euo pipefail

version=v2.10.3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${QUAI_TOOLS_BIN:-$HOME/.cache/quai/tools}
out=$dir/pebble-$version
mkdir -p "$out"

# The stamp ties the binaries to this module's pinned dependencies: a changed
# go.sum rebuilds them.
stamp=$(sha256sum "$here/go.sum" | cut -c1-16)
if [[ "$(cat "$out/stamp" 2>/dev/null)" != "$stamp" ]]; then
	rm -f "$out/pebble" "$out/pebble-challtestsrv"
fi
for cmd in pebble pebble-challtestsrv; do
	if [[ ! -x "$out/$cmd" ]]; then
		start=$(date +%s)
		echo "building $cmd $version" >&2
		(cd "$here" && CGO_ENABLED=0 nice -n 10 go build -mod=readonly -buildvcs=false -trimpath -ldflags "-s -w" -o "$out/$cmd.tmp" "github.com/letsencrypt/pebble/v2/cmd/$cmd")
		mv "$out/$cmd.tmp" "$out/$cmd"
		echo "built $cmd in $(($(date +%s) - start))s" >&2
	fi
done
echo "$stamp" >"$out/stamp.tmp" && mv "$out/stamp.tmp" "$out/stamp"
echo "$out"
