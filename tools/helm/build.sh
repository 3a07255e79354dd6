#!/usr/bin/env bash
# Builds the real Helm CLI (v4.3.2, from this wrapper module's pinned
# dependencies) into a cache directory, once per machine: the chart tests
# run `helm lint`, `helm template` and `helm pull oci://` on the charts
# `quai render --target helm` writes and `quai publish --oci` pushes.
#
#   tools/helm/build.sh            # into ${QUAI_TOOLS_BIN:-$HOME/.cache/quai/tools}/helm-v4.3.2/helm
#   QUAI_TOOLS_BIN=/opt/tools tools/helm/build.sh
#
# Prints the binary's path on its last line.
set -euo pipefail

version=v4.3.2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${QUAI_TOOLS_BIN:-$HOME/.cache/quai/tools}/helm-$version
out=$dir/helm
mkdir -p "$dir"

# The stamp ties the binary to this module's pinned dependencies: a changed
# go.sum rebuilds it.
stamp=$(sha256sum "$here/go.sum" | cut -c1-16)
if [[ "$(cat "$out.stamp" 2>/dev/null)" != "$stamp" ]]; then
	rm -f "$out"
fi
if [[ ! -x "$out" ]]; then
	start=$(date +%s)
	echo "building helm $version" >&2
	# Close to a thousand packages (client-go, the Kubernetes API types):
	# nice leaves the cores to interactive work on shared machines. The
	# version is stamped the way Helm's own Makefile does, so `helm version`
	# tells which release it is.
	(cd "$here" && CGO_ENABLED=0 nice -n 10 go build -mod=readonly -buildvcs=false -trimpath \
		-ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$version" \
		-o "$out.tmp" helm.sh/helm/v4/cmd/helm)
	mv "$out.tmp" "$out"
	echo "built helm in $(($(date +%s) - start))s" >&2
fi
echo "$stamp" >"$out.stamp.tmp" && mv "$out.stamp.tmp" "$out.stamp"
echo "$out"
