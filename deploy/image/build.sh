#!/usr/bin/env bash
# Builds Picasso's image (localhost/picasso:latest) with podman, with no container registry:
# the base is a minimal Debian bookworm made by debootstrap from Debian's packages and
# imported once (localhost/picasso-base:bookworm), then deploy/image/Containerfile on top.
#   bash deploy/image/build.sh [--stack] [tag]
# --stack also builds the local servers' image (Containerfile.stack, tagged as the image
# with "-stack" after its name: localhost/picasso-stack:latest) and the pods' infra image
# (Containerfile.pause, the infra_image of containers.conf) that the local overlay
# (deploy/kubernetes/overlays/local) runs with `podman kube play`.
# Needs root (debootstrap) and the Debian packages podman, runc, debootstrap.
set -euo pipefail
cd "$(dirname "$0")/../.."
stack=
if [ "${1:-}" = --stack ]; then stack=1; shift; fi
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

if [ -n "$stack" ]; then
  pause=$(sed -n 's/^infra_image *= *"\(.*\)"/\1/p' "$CONTAINERS_CONF")
  echo "image: podman build $pause"
  podman build --quiet --build-arg BASE="$base" -f deploy/image/Containerfile.pause \
    -t "$pause" . >/dev/null
  node=$(command -v node) || { echo "image: node (20 or newer) is missing" >&2; exit 1; }
  modules=$(realpath deploy/local/firebase/node_modules)
  [ -d "$modules/firebase-tools" ] || {
    echo "image: run npm ci in deploy/local/firebase first (deploy/local/install.sh)" >&2; exit 1; }
  stack_tag=${tag%:*}-stack:${tag##*:}
  echo "image: podman build $stack_tag"
  podman build --quiet --build-arg APP="$tag" --volume "$ca:/run/picasso/host-ca.crt:ro" \
    --volume "$node:/run/picasso/node:ro" --volume "$modules:/run/picasso/firebase-modules:ro" \
    -f deploy/image/Containerfile.stack -t "$stack_tag" .
fi
