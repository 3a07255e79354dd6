#!/usr/bin/env bash
# Builds the single-node test cluster's binaries (etcd and Kubernetes v1.34.4
# from this wrapper module, the Traefik ingress controller from
# ../traefik) into a cache directory, skipping binaries already there, so
# only the first run on a machine pays the long compile.
#
#   tools/kube/build.sh            # into ${QUAI_KUBE_BIN:-$HOME/.cache/quai/kube/v1.34.4}
#   QUAI_KUBE_BIN=/opt/kube tools/kube/build.sh
#
# Prints the directory on its last line.
set -euo pipefail

version=v1.34.4
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${QUAI_KUBE_BIN:-$HOME/.cache/quai/kube/$version}
mkdir -p "$out"

# The stamp ties the cache to this module's pinned dependencies: a changed
# go.sum rebuilds everything.
stamp=$(sha256sum "$here/go.sum" | cut -c1-16)
if [[ "$(cat "$out/.stamp" 2>/dev/null)" != "$stamp" ]]; then
	rm -f "$out"/etcd "$out"/kube-* "$out"/kubelet "$out"/kubectl
fi

declare -A pkgs=(
	[etcd]=./cmd/etcd
	[kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
	[kube-controller-manager]=k8s.io/kubernetes/cmd/kube-controller-manager
	[kube-scheduler]=k8s.io/kubernetes/cmd/kube-scheduler
	[kubelet]=k8s.io/kubernetes/cmd/kubelet
	[kube-proxy]=k8s.io/kubernetes/cmd/kube-proxy
	[kubectl]=k8s.io/kubernetes/cmd/kubectl
)

minor=${version#v1.}
minor=${minor%%.*}
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $p.gitVersion=$version -X $p.gitMajor=1 -X $p.gitMinor=$minor"
	ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done

cd "$here"
for name in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
	[[ -x "$out/$name" ]] && continue
	start=$(date +%s)
	echo "building $name" >&2
	# One binary at a time keeps peak memory near 2 GB; nice leaves the cores
	# to interactive work on shared machines.
	CGO_ENABLED=0 nice -n 10 go build -mod=readonly -buildvcs=false -trimpath -ldflags "$ldflags" -o "$out/$name.tmp" "${pkgs[$name]}"
	mv "$out/$name.tmp" "$out/$name"
	echo "built $name in $(($(date +%s) - start))s" >&2
done
echo "$stamp" >"$out/.stamp.tmp" && mv "$out/.stamp.tmp" "$out/.stamp"

# The ingress controller has a module and a stamp of its own: its
# Kubernetes libraries need not match the cluster's.
traefik_version=$(grep -oE 'github.com/traefik/traefik/v3 v[^ ]+' "$here/../traefik/go.mod" | cut -d' ' -f2)
traefik_stamp=$(sha256sum "$here/../traefik/go.sum" | cut -c1-16)
if [[ "$(cat "$out/.stamp-traefik" 2>/dev/null)" != "$traefik_stamp" ]]; then
	rm -f "$out/traefik"
fi
if [[ ! -x "$out/traefik" ]]; then
	start=$(date +%s)
	echo "building traefik" >&2
	(cd "$here/../traefik" && CGO_ENABLED=0 nice -n 10 go build -mod=readonly -buildvcs=false -trimpath -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$traefik_version" -o "$out/traefik.tmp" github.com/traefik/traefik/v3/cmd/traefik)
	mv "$out/traefik.tmp" "$out/traefik"
	echo "built traefik in $(($(date +%s) - start))s" >&2
fi
echo "$traefik_stamp" >"$out/.stamp-traefik.tmp" && mv "$out/.stamp-traefik.tmp" "$out/.stamp-traefik"
echo "$out"
