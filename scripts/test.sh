#!/usr/bin/env bash
# Set everything up (venv, dev requirements, Debian's chromium for the browser test, a Java
# runtime for the Spark tests) and run lint, type check and the whole test suite, slow tests included.
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
if ! command -v java >/dev/null && [ -z "${JAVA_HOME:-}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing a Java runtime for the Spark tests"
    apt-get update -qq
    # Debian 12 ships Java 17; later releases name newer ones (Spark 4 runs on 17 and 21).
    pkg=$(apt-cache --names-only search '^openjdk-(17|21)-jre-headless$' | awk '{print $1}' | sort | head -n1)
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkg:-default-jre-headless}" >/dev/null
  else
    echo "error: java is missing; install a Java 17+ runtime (sudo apt-get install openjdk-17-jre-headless)" >&2
    exit 1
  fi
fi
.venv/bin/ruff check .
.venv/bin/mypy interest_core ui app_pages bench app.py tests
exec .venv/bin/python -m pytest -q -p no:cacheprovider --durations=15 "$@"
