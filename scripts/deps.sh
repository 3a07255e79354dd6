#!/usr/bin/env bash
# Installs what quai's tests need on a Debian machine: the database servers
# (PostgreSQL, Redis, MariaDB) the process runtime runs from host binaries, a Docker Engine for the
# docker runtime's tests (installed and started when missing), an image
# registry server (docker-registry), the age and sops CLIs for the
# sealed-secrets tests, the versitygw S3 server for the backup tests, the
# helm CLI for the chart tests, Chromium for the dashboard's browser tests.
# Idempotent; quick when everything is present.
set -euo pipefail
need=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
{ command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; } || need+=(mariadb-server)
# An engine that already answers (DOCKER_HOST, Docker Desktop) is enough;
# otherwise the docker runtime's tests need a local dockerd and its CLI.
engine_up() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }
if ! engine_up && ! { command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1; }; then
  need+=(docker.io)
fi
# The Kubernetes runtime's tests run a real single-node cluster: its own
# containerd with runc, the CNI bridge plugins, iptables for kube-proxy.
for pair in containerd:containerd runc:runc iptables:iptables ip:iproute2; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
# Sealed secrets: the SOPS codec's tests run the real age CLI (age-keygen
# makes the identities `sops` reads from SOPS_AGE_KEY_FILE).
command -v age-keygen >/dev/null 2>&1 || need+=(age)
# Registry tests push to and pull from a real registry server (distribution
# 2.8) that they start on loopback with TLS and basic auth.
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
# The catalog's tests: Debian's docker-compose checks every entry's Compose
# rendering; the WordPress entry runs end to end on Docker from images
# built from PHP, its MySQL driver and WordPress's Debian packages.
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v php8.2 >/dev/null 2>&1 || need+=(php8.2-cli)
[ -f /usr/lib/php/20220829/mysqli.so ] || need+=(php8.2-mysql)
[ -f /usr/share/wordpress/wp-settings.php ] || need+=(wordpress)
# The Syncthing entry runs end to end from Debian's syncthing binary; the
# Django template from Debian's Python, Django, psycopg2 and gunicorn.
[ -x /usr/bin/syncthing ] || need+=(syncthing)
[ -d /usr/lib/python3/dist-packages/django ] || need+=(python3-django)
[ -d /usr/lib/python3/dist-packages/psycopg2 ] || need+=(python3-psycopg2)
command -v gunicorn >/dev/null 2>&1 || need+=(gunicorn)
# The dashboard's end-to-end tests drive a real headless Chromium (chromedp).
{ command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; } || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps: missing ${need[*]}; run as root or: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The docker runtime's tests talk to a real engine. Without systemd (CI
# containers, this kind of VM) nothing starts dockerd, so start it here and
# wait until it answers.
if ! engine_up; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps: the Docker Engine does not answer; start it (sudo dockerd) or set DOCKER_HOST" >&2
    exit 1
  fi
  echo "deps: starting dockerd (log: /var/log/dockerd.log)"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 60); do
    engine_up && break
    sleep 1
  done
  if ! engine_up; then
    echo "deps: dockerd did not answer within 60 s; see /var/log/dockerd.log" >&2
    tail -n 20 /var/log/dockerd.log >&2 || true
    exit 1
  fi
fi

# The cluster's binaries (etcd, Kubernetes v1.34.4, the Traefik ingress
# controller) are built from the Go module proxy into a per-machine cache:
# about a quarter of an hour the first time on a machine, nothing after that.
echo "deps: Kubernetes test cluster binaries"
"$(dirname "$0")/../tools/kube/build.sh" | tail -n 1

# The real sops CLI (not in Debian) is built from the Go module proxy into
# the same kind of per-machine cache: a few minutes the first time.
echo "deps: sops CLI"
"$(dirname "$0")/../tools/sops/build.sh" | tail -n 1

# The backup repository's S3 tests run a real S3 server on loopback:
# versitygw (Apache-2.0, not in Debian), built from the Go module proxy into
# the same per-machine cache: a few minutes the first time.
echo "deps: versitygw S3 server"
"$(dirname "$0")/../tools/versitygw/build.sh" | tail -n 1

# The proxy's ACME tests run a real ACME server on loopback: Pebble and its
# challenge test server (MPL-2.0, not in Debian), built from the Go module
# proxy into the same per-machine cache.
echo "deps: pebble ACME test server"
"$(dirname "$0")/../tools/pebble/build.sh" | tail -n 1

# The Helm chart tests run the real helm v4 CLI (`helm lint`, `helm template`,
# `helm pull oci://`): not in Debian, built from the Go module proxy in its
# own module (Helm 4 needs newer k8s.io libraries than quai's) into the same
# per-machine cache: close to a thousand packages, a quarter of an hour or
# more the first time on a busy machine.
echo "deps: helm CLI"
"$(dirname "$0")/../tools/helm/build.sh" | tail -n 1
