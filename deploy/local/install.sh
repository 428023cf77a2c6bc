#!/usr/bin/env bash
# Installs what Picasso needs on this machine, skipping what is there already:
# Debian packages (MariaDB, Prometheus, and Chromium for the browser tests), the Python
# virtual environment from requirements.lock, the Firebase Auth emulator from its
# package-lock.json, and the AsyncAPI parser the tests validate the AsyncAPI document with
# from its own. Safe to run again; `make run` and `make test` call it.
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

asyncapi=tests/contracts/asyncapi
if [ ! -d "$asyncapi/node_modules/@asyncapi/parser" ] || [ "$asyncapi/package-lock.json" -nt "$asyncapi/node_modules" ]; then
  echo "install: AsyncAPI parser for the tests (npm ci)"
  (cd "$asyncapi" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  touch "$asyncapi/node_modules"
fi
