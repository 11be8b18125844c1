#!/usr/bin/env bash
# Set everything up and open the app on its demo data (http://localhost:8501).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements.txt
exec .venv/bin/streamlit run app.py --browser.gatherUsageStats false "$@"
