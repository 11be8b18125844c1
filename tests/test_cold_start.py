"""Cold start (issue 10): a fresh process draws the first pages without TensorFlow/Keras, statsmodels,
scikit-learn, scipy or a model fit, and sends the navigation and the preload of the page's frontend code before
it imports pandas or opens the store. The checks run in their own Python process, since the test session has
imported everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import streamlit as st

from app import PAGES
from tests.apptest import APP, ROOT
from ui import startup

HEAVY = ("keras", "tensorflow", "statsmodels", "sklearn", "scipy", "torch", "pyspark")
FIRST_PAGES = """
import json, sys
from streamlit.testing.v1 import AppTest
from ui import startup

seen = {}
preload = startup.preload
def watched(where, elements):  # what the first run had imported when it sent the first preload
    seen.setdefault("loaded", sorted(m for m in ("pandas", "duckdb", "interest_core.store") if m in sys.modules))
    preload(where, elements)
startup.preload = watched

at = AppTest.from_file(sys.argv[1], default_timeout=120)
at.run()
data_charts = len(at.get("plotly_chart")) + sum('data-chart="bar-list"' in e.proto.body for e in at.get("html"))
preloads = [e.proto.body for e in at.get("html") if e.proto.unsafe_allow_javascript]
at.switch_page("app_pages/overview.py").run()
print(json.dumps({"exceptions": [str(e.value) for e in at.exception], "errors": [str(e.value) for e in at.error],
                  "data_charts": data_charts, "overview_charts": len(at.get("plotly_chart")),
                  "preloads": preloads, "loaded_at_preload": seen.get("loaded"),
                  "heavy": sorted(m for m in HEAVY if m in sys.modules)}))
"""


def _fresh_python(code: str, env: dict[str, str], *args: str) -> Any:
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env={**os.environ, **env,
                          "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_first_pages_need_no_tensorflow_and_no_fit(tmp_path: Path) -> None:
    env = {"INTEREST_DB": str(tmp_path / "interest.duckdb"), "INTEREST_MODELS_DIR": str(tmp_path / "models")}
    out = _fresh_python(f"HEAVY = {HEAVY!r}\n{FIRST_PAGES}", env, APP)
    assert not out["exceptions"] and not out["errors"], out
    assert out["data_charts"] >= 1 and out["overview_charts"] >= 3, out  # the demo was ready, charts drawn
    assert out["heavy"] == [], out
    # The Data page's preload went out first, before pandas, DuckDB or the store were imported: the chunks of
    # its first screen; plotly's after the page (its first chart is HTML).
    preloads = out["preloads"]
    data = PAGES[0]
    assert isinstance(preloads, list) and len(preloads) == 2, out
    assert all(startup.chunk_file(e) in preloads[0] for e in data.preload), out
    assert startup.plotly_bundle() in preloads[1] and startup.plotly_bundle() not in preloads[0], out
    assert out["loaded_at_preload"] == [], out
    # Nothing was fitted: no page model, no job, no saved model.
    assert not (tmp_path / "interest.page_models").exists()
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_app_module_imports_nothing_heavy() -> None:
    """app.py's page table loads without pandas, DuckDB, plotly's figures or the store (bench/pages.py imports it)."""
    out = _fresh_python("import json, sys, app\nprint(json.dumps(sorted(m for m in ('pandas', 'duckdb', "
                        "'interest_core.store', 'ui.frame') if m in sys.modules)))", {})
    assert out == [], out


@pytest.mark.parametrize("element", sorted({e for spec in PAGES for e in (*spec.preload, *spec.preload_after)}))
def test_preload_names_installed_chunks(element: str) -> None:
    """Each chunk a page preloads is one Streamlit's frontend loads lazily for that element: a Streamlit upgrade
    that renames or splits one fails here instead of silently losing its preload."""
    name = startup.chunk_file(element)
    assert name is not None and name.startswith(f"{element}.") and name.endswith(".js")
    static = Path(st.__file__).parent / "static" / "static" / "js"
    index = next(static.glob("index.*.js")).read_text(encoding="utf-8")
    assert name in index  # the frontend's lazy import of it


def test_preload_leaves_out_unknown_chunks() -> None:
    assert startup.preload_markup(["NoSuchElement"]) is None
    markup = startup.preload_markup(["NoSuchElement", "Html"])
    html = startup.chunk_file("Html")
    assert markup is not None and html is not None and html in markup and "NoSuchElement" not in markup


def test_config_turns_the_file_watcher_off() -> None:
    """Streamlit's file watcher watches app.py's folder recursively: in a checkout with its .venv inside (as
    scripts/run.sh makes it) that walk cost 1.5-2 CPU s of the first page's time. The README's command reads
    this file, so a person gets the bench's setting."""
    settings = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert settings["server"]["fileWatcherType"] == "none"


def test_run_script_stores_the_demo_before_the_server_starts() -> None:
    """The README's command stores the demo first, so a fresh server draws it without ingesting it while the
    browser waits (bench/cold_start.py's 'demo stored' rows)."""
    script = (ROOT / "scripts" / "run.sh").read_text(encoding="utf-8")
    demo, server = script.find("-m interest_core demo"), script.find("streamlit run app.py")
    assert 0 < demo < server, script


def test_demo_command_stores_the_demo_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from interest_core.cli.main import main as cli
    from interest_core.store import Store

    db = str(tmp_path / "store.duckdb")
    assert cli(["demo", "--db", db, "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["stored"] is True and first["name"] == "demo"
    with Store(Path(db)) as store:
        fingerprint = store.fingerprint("demo")
        assert store.describe("demo").rows > 500_000
    assert cli(["demo", "--db", db, "--json"]) == 0  # a second start: kept as it is, not ingested again
    assert json.loads(capsys.readouterr().out)["stored"] is False
    with Store(Path(db)) as store:
        assert list(store.names()) == ["demo"] and store.fingerprint("demo") == fingerprint
