#!/usr/bin/env bash
# Builds the real sops CLI (v3.13.3, from this wrapper module's pinned
# dependencies) into a cache directory, once per machine: the SOPS codec's
# interoperability tests run it to prove quai's files and sops's files are
# the same format in both directions.
#
#   tools/sops/build.sh            # into ${QUAI_TOOLS_BIN:-$HOME/.cache/quai/tools}/sops-v3.13.3
#   QUAI_TOOLS_BIN=/opt/tools tools/sops/build.sh
#
# Prints the binary's path on its last line.
set -euo pipefail

version=v3.13.3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${QUAI_TOOLS_BIN:-$HOME/.cache/quai/tools}
out=$dir/sops-$version
mkdir -p "$dir"

# The stamp ties the binary to this module's pinned dependencies: a changed
# go.sum rebuilds it.
stamp=$(sha256sum "$here/go.sum" | cut -c1-16)
if [[ "$(cat "$out.stamp" 2>/dev/null)" != "$stamp" ]]; then
	rm -f "$out"
fi
if [[ ! -x "$out" ]]; then
	start=$(date +%s)
	echo "building sops $version" >&2
	# About 800 packages (every cloud KMS client sops links): nice leaves the
	# cores to interactive work on shared machines.
	(cd "$here" && CGO_ENABLED=0 nice -n 10 go build -mod=readonly -buildvcs=false -trimpath -ldflags "-s -w" -o "$out.tmp" github.com/getsops/sops/v3/cmd/sops)
	mv "$out.tmp" "$out"
	echo "built sops in $(($(date +%s) - start))s" >&2
fi
echo "$stamp" >"$out.stamp.tmp" && mv "$out.stamp.tmp" "$out.stamp"
echo "$out"
