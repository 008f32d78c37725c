#!/usr/bin/env bash
# Set-up for a fresh machine of this kind (Debian, Python 3.11, PyPI + npm + Debian registries).
# Idempotent: each step keeps a stamp of its inputs and is skipped when they have not changed.
#   scripts/setup.sh            venv + Python packages + offline map assets
#   scripts/setup.sh --browser  also Debian's chromium and postgresql for the tests
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=0
[ "${1:-}" = "--browser" ] && want_browser=1

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi

stamp=.venv/.requirements.sha256
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python packages (about a minute on a fresh machine)"
  .venv/bin/python -m pip install --disable-pip-version-check -q -r requirements.txt
  .venv/bin/python -m pip install --disable-pip-version-check -q --no-deps -e .
  echo "$want" >"$stamp"
fi

# Leaflet, jQuery, Bootstrap, d3 and marker-cluster from the npm registry, served locally so maps
# draw on an air-gapped network. Kept out of git (see .gitignore).
.venv/bin/python -m dashboard assets --quiet

# Test-only system packages: Debian's chromium for the browser tests, and PostgreSQL for the store
# tests, which start a throw-away cluster of their own (the app itself needs no local server).
if [ "$want_browser" = 1 ]; then
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "setup: installing Debian ${missing[*]} for the tests"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "setup: ${missing[*]} missing and cannot be installed here (need root and apt-get)." >&2
      echo "       Install with: sudo apt-get install -y ${missing[*]}" >&2
    fi
  fi
fi
exit 0
