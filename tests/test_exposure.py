"""What leaves the machine (issue 13, items 8 and 12): the server listens on 127.0.0.1 unless told
otherwise, the tables' toolbar exports nothing, and the Scoring page's sample CSV is formula-escaped."""

from __future__ import annotations

import io
import re
import tomllib
from pathlib import Path

import pandas as pd

from interest_core.export import safe_csv_bytes

ROOT = Path(__file__).resolve().parents[1]


def test_server_binds_loopback_and_tables_export_nothing() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["client"]["disableDataExport"] is True  # the toolbar's unescaped CSV download and copy


def test_run_script_binds_loopback_by_default() -> None:
    script = (ROOT / "scripts" / "run.sh").read_text()
    assert re.search(r'--server\.address "\$\{INTEREST_ADDRESS:-127\.0\.0\.1\}"', script), script


def test_sample_download_is_escaped_and_keeps_ids() -> None:
    raw = pd.DataFrame({"user_id": ["0012", "1234567890123456789", "-5", "u"],
                        "item_id": ["", "7", "8", "9"],
                        "category_id": ["=HYPERLINK(\"https://evil.example\",\"x\")", "+1", "@SUM(A1)", "plain"],
                        "behavior_type": ["pv", "buy", "fav", "cart"], "timestamp": [1, 2, 3, 4]})
    out = pd.read_csv(io.BytesIO(safe_csv_bytes(raw.to_csv(index=False).encode())), dtype=str,
                      keep_default_na=False)
    assert out["category_id"].tolist() == ["'=HYPERLINK(\"https://evil.example\",\"x\")", "'+1", "'@SUM(A1)", "plain"]
    assert out["user_id"].tolist() == ["0012", "1234567890123456789", "'-5", "u"]
    assert out["item_id"].tolist() == ["", "7", "8", "9"]
    assert out["timestamp"].tolist() == ["1", "2", "3", "4"]
