"""Cold start (issue 10): a fresh process draws the first pages without TensorFlow/Keras, statsmodels or a
model fit. The check runs in its own Python process, since the test session has imported everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.apptest import APP, ROOT

FIRST_PAGES = """
import json, sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=120)
at.run()
data_charts = len(at.get("plotly_chart"))
at.switch_page("app_pages/overview.py").run()
print(json.dumps({"exceptions": [str(e.value) for e in at.exception], "errors": [str(e.value) for e in at.error],
                  "data_charts": data_charts, "overview_charts": len(at.get("plotly_chart")),
                  "heavy": sorted(m for m in ("keras", "tensorflow", "statsmodels") if m in sys.modules)}))
"""


def test_first_pages_need_no_tensorflow_and_no_fit(tmp_path: Path) -> None:
    env = {**os.environ, "INTEREST_DB": str(tmp_path / "interest.duckdb"),
           "INTEREST_MODELS_DIR": str(tmp_path / "models"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", FIRST_PAGES, APP], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert not out["exceptions"] and not out["errors"], out
    assert out["data_charts"] >= 1 and out["overview_charts"] >= 3, out  # the demo was ready, charts drawn
    assert out["heavy"] == [], out
    # Nothing was fitted: no page model, no job, no saved model.
    assert not (tmp_path / "interest.page_models").exists()
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())
