#!/usr/bin/env bash
# Installs what Picasso needs on this machine, skipping what is there already:
# Debian packages (MariaDB, Prometheus; Chromium, kubectl and podman for the tests), the Python
# virtual environment from requirements.lock, the Firebase Auth emulator from its
# package-lock.json, and the validators of the AsyncAPI document and of the Kubernetes
# manifests from theirs. Safe to run again; `make run` and `make test` call it.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
want_debs=()
command -v mariadbd >/dev/null 2>&1 || want_debs+=(mariadb-server)
# The browser tests drive Debian's Chromium with Playwright (no browser download).
command -v chromium >/dev/null 2>&1 || want_debs+=(chromium)
# make run's Prometheus (deploy/local/servers/prometheus.py); promtool checks the alert rules.
command -v prometheus >/dev/null 2>&1 || want_debs+=(prometheus)
# The manifests' tests render deploy/kubernetes with `kubectl kustomize`.
command -v kubectl >/dev/null 2>&1 || want_debs+=(kubernetes-client)
# The image's tests build it with podman on a debootstrapped Debian (deploy/image/build.sh).
command -v podman >/dev/null 2>&1 || want_debs+=(podman runc uidmap slirp4netns fuse-overlayfs)
command -v debootstrap >/dev/null 2>&1 || want_debs+=(debootstrap)
if [ ${#want_debs[@]} -gt 0 ]; then
  echo "install: Debian packages ${want_debs[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${want_debs[@]}" >/dev/null
  # Debian starts the packaged Prometheus as a service listening on every address; the stack
  # runs its own (127.0.0.1 only), so the one just installed is stopped and left off.
  if [[ " ${want_debs[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi

stamp="$VENV/.picasso-installed"
if [ ! -f "$stamp" ] || [ requirements.lock -nt "$stamp" ] || [ setup.cfg -nt "$stamp" ]; then
  echo "install: Python packages into $VENV"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements.lock
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -e .
  touch "$stamp"
fi

fb=deploy/local/firebase
if [ ! -d "$fb/node_modules/firebase-tools" ] || [ "$fb/package-lock.json" -nt "$fb/node_modules" ]; then
  echo "install: Firebase Auth emulator (npm ci)"
  (cd "$fb" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  touch "$fb/node_modules"
fi

# The validators the contract tests run: the AsyncAPI parser, and the Strimzi resources'
# schemas for the Kubernetes manifests.
for contract in tests/contracts/asyncapi tests/contracts/kubernetes; do
  if [ ! -d "$contract/node_modules" ] || [ "$contract/package-lock.json" -nt "$contract/node_modules" ]; then
    echo "install: $(basename "$contract") validator for the tests (npm ci)"
    (cd "$contract" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    touch "$contract/node_modules"
  fi
done
