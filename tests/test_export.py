"""safe_csv: text that a spreadsheet would run as a formula is escaped; numbers stay numbers."""

from __future__ import annotations

import io

import pandas as pd

from interest_core.export import escape_cell, safe_csv


def test_formula_like_text_is_escaped_and_numbers_are_not() -> None:
    frame = pd.DataFrame({
        "category": ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tTAB", "plain", None],
        "n": [1, -2, 3, 4, 5, 6, 7],
        "code": pd.Categorical(["=a", "b", "b", "b", "b", "b", "b"]),
        "s": pd.Series(["-x"] * 7, dtype="string"),
    })
    text = safe_csv(frame).decode("utf-8")
    back = pd.read_csv(io.StringIO(text), keep_default_na=False)
    expected = ["'=HYPERLINK(\"http://x\")", "'+1", "'-2+3", "'@SUM(A1)", "'\tTAB", "plain"]
    assert back["category"].tolist()[:6] == expected
    assert back["n"].tolist() == [1, -2, 3, 4, 5, 6, 7]  # negative numbers are numbers, not formulas
    assert back["code"].iloc[0] == "'=a" and back["s"].iloc[0] == "'-x"
    assert frame["category"].iloc[0].startswith("=")  # the input is not modified


def test_column_names_are_escaped_too() -> None:
    assert safe_csv(pd.DataFrame({"=cmd": [1]})).decode().splitlines()[0] == "'=cmd"
    assert escape_cell(5) == 5 and escape_cell("a=b") == "a=b"
