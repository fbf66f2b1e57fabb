#!/usr/bin/env bash
# Idempotent set-up: a virtual environment with torch (from this machine's disk), the
# project and its test extras. `--browser` also installs Debian's Chromium for browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PY" -m venv .venv
fi
. .venv/bin/activate
if ! python -c "import torch, torchvision" 2>/dev/null; then
  echo "== installing torch (about a minute)"
  python -m pip install -q --upgrade pip
  python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
fi
if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
  echo "== installing the project and its test tools"
  python -m pip install -q -e ".[test]"
  touch .venv/.installed
fi
if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  echo "== installing Debian's Chromium for the browser tests"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
