#!/usr/bin/env bash
# Builds Picasso's image (localhost/picasso:latest) with podman, with no container registry:
# the base is a minimal Debian bookworm made by debootstrap from Debian's packages and
# imported once (localhost/picasso-base:bookworm), then deploy/image/Containerfile on top.
#   bash deploy/image/build.sh [tag]
# Needs root (debootstrap) and the Debian packages podman, runc, debootstrap.
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=${1:-localhost/picasso:latest}
base=localhost/picasso-base:bookworm
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/deploy/image/containers.conf}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ca=${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

if ! podman image exists "$base"; then
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  echo "image: debootstrap a minimal bookworm ($mirror)"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$root" "$mirror" >/dev/null
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | podman import --quiet - "$base" >/dev/null
fi

"${PYTHON:-.venv/bin/python}" -m deploy.image.lock --check
echo "image: podman build $tag"
podman build --quiet --build-arg BASE="$base" --volume "$ca:/run/picasso/host-ca.crt:ro" \
  -f deploy/image/Containerfile -t "$tag" .
