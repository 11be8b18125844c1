#!/usr/bin/env bash
# Set everything up and open the app on its demo data (http://127.0.0.1:8501).
# It listens on this machine only; INTEREST_ADDRESS=0.0.0.0 (behind an authenticating proxy) serves others.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements.txt
# The demo is stored before the server starts (once; quick when it is there), so the first page draws it at
# once instead of ingesting it while the browser waits (bench/cold_start.py). --db: $INTEREST_DB or the default.
.venv/bin/python -m interest_core demo
exec .venv/bin/streamlit run app.py --browser.gatherUsageStats false --server.address "${INTEREST_ADDRESS:-127.0.0.1}" "$@"
