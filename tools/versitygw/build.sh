#!/usr/bin/env bash
# Builds the real versitygw S3 server (v1.8.0, from this wrapper module's
# pinned dependencies) into a cache directory, once per machine: the backup
# repository's tests run it on loopback, with its posix backend in a
# temporary directory, as the S3 target.
#
#   tools/versitygw/build.sh            # into ${QUAI_TOOLS_BIN:-$HOME/.cache/quai/tools}/versitygw-v1.8.0
#   QUAI_TOOLS_BIN=/opt/tools tools/versitygw/build.sh
#
# Prints the binary's path on its last line.
set -euo pipefail

version=v1.8.0
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${QUAI_TOOLS_BIN:-$HOME/.cache/quai/tools}
out=$dir/versitygw-$version
mkdir -p "$dir"

# The stamp ties the binary to this module's pinned dependencies: a changed
# go.sum rebuilds it.
stamp=$(sha256sum "$here/go.sum" | cut -c1-16)
if [[ "$(cat "$out.stamp" 2>/dev/null)" != "$stamp" ]]; then
	rm -f "$out"
fi
if [[ ! -x "$out" ]]; then
	start=$(date +%s)
	echo "building versitygw $version" >&2
	# Several hundred packages (the AWS SDK, the Azure and other backends the
	# gateway links): nice leaves the cores to interactive work on shared
	# machines.
	(cd "$here" && CGO_ENABLED=0 nice -n 10 go build -mod=readonly -buildvcs=false -trimpath -ldflags "-s -w" -o "$out.tmp" github.com/versity/versitygw/cmd/versitygw)
	mv "$out.tmp" "$out"
	echo "built versitygw in $(($(date +%s) - start))s" >&2
fi
echo "$stamp" >"$out.stamp.tmp" && mv "$out.stamp.tmp" "$out.stamp"
echo "$out"
