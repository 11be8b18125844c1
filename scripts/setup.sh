#!/usr/bin/env bash
# Create .venv (Python 3.11) and install the pinned requirements. Idempotent: re-running is quick.
# Usage: scripts/setup.sh [requirements file]   (default requirements.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
REQS="${1:-requirements.txt}"
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "warning: $PY is not Python 3.11; the pins are tested on 3.11" >&2
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
STAMP=".venv/.installed-$(basename "$REQS")"
# Reinstall only when a requirements file changed since the last install.
if [ ! -f "$STAMP" ] || [ requirements.txt -nt "$STAMP" ] || [ "$REQS" -nt "$STAMP" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r "$REQS"
  touch "$STAMP"
fi
# Bytecode for the app's own modules, written here since Python may be told not to write it (PYTHONDONTWRITEBYTECODE):
# compiling them on every server start cost the first page about 0.1 s. Stale files are recompiled on import.
.venv/bin/python -m compileall -q interest_core ui app.py >/dev/null
