#!/usr/bin/env bash
# Set everything up (venv, dev requirements, Debian's chromium for the browser test) and run
# lint, type check and the whole test suite, slow tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements-dev.txt
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium for the browser test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "error: /usr/bin/chromium is missing; install Debian's chromium package (sudo apt-get install chromium)" >&2
    exit 1
  fi
fi
.venv/bin/ruff check .
.venv/bin/mypy interest_core ui app_pages bench app.py tests
exec .venv/bin/python -m pytest -q -p no:cacheprovider --durations=15 "$@"
