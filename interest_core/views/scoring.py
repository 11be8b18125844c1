"""What the Scoring page shows around the scores, in words: rejected rows and a readable drift table."""

from __future__ import annotations

import math

import pandas as pd

from interest_core.ingest.formats import REJECT_REASONS
from interest_core.ingest.report import RejectReport
from interest_core.text import counted, percent

# Reasons whose rows are better counted by their own noun, with what they mean in plain words.
REJECT_WORDS: dict[str, tuple[str, str]] = {
    "duplicate": ("duplicate", "same user, item, category, behaviour and time as another row"),
    "malformed_row": ("malformed row", "wrong number of fields or broken quoting"),
}
DUPLICATE_POLICIES = {"auto": "the format's default", "drop": "drop them", "keep": "keep them"}
DRIFT_TABLE_COLUMNS = ("What", "Measure", "Training", "This file", "Difference", "Stability (PSI)", "Flag")
ASPECT_WORDS = {"behavior_mix": "Behaviour mix", "category_mix": "Category mix", "activity": "Activity"}
ITEM_WORDS = {
    "view": "views", "fav": "favourites", "cart": "added to cart", "buy": "purchases", "rate": "ratings",
    "PSI": "behaviour mix overall", "PSI (top categories + rest)": "category mix overall",
    "share of events in unseen categories": "events in categories the model never saw",
    "users": "users", "events_per_user_mean": "events per user (mean)",
    "events_per_user_median": "events per user (median)",
    "events_per_user_p90": "events per user (top 10% start at)",
    "events_per_active_period": "events per user and active period",
}
FLAG_WORDS = {"stable": "stable", "moderate": "moderate shift", "shift": "shift"}


def rejected_in_words(report: RejectReport | None) -> list[str]:
    """One line per reject reason, largest first: '11,329 duplicates: same user, item, ... as another row'."""
    if report is None:
        return []
    lines = []
    for reason, n in sorted(report.rejected.items(), key=lambda item: (-item[1], item[0])):
        noun, meaning = REJECT_WORDS.get(reason, ("row", REJECT_REASONS.get(reason, reason)))
        lines.append(f"{counted(n, noun)}: {meaning}")
    return lines


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value: object, share: bool) -> str:
    if _missing(value):
        return ""
    number = float(value)  # type: ignore[arg-type]
    if share:
        return percent(number)
    return f"{number:,.0f}" if abs(number) >= 100 or number == int(number) else f"{number:,.1f}"


def _difference(value: object, share: bool) -> str:
    """Shares differ in percentage points ('+12 points'), counts in their own unit ('+3.5')."""
    if _missing(value):
        return ""
    number = float(value)  # type: ignore[arg-type]
    if share:
        points = 100.0 * number
        return "0 points" if abs(points) < 0.5 else f"{points:+.0f} points"
    text = _number(number, share=False)
    return text if number <= 0 or text == "0" else "+" + text


def drift_in_words(drift: pd.DataFrame) -> pd.DataFrame:
    """``scoring.DRIFT_COLUMNS`` as text people read: named rows, percents, blanks instead of None."""
    rows = []
    for rec in drift.to_dict("records"):
        share = rec["aspect"] != "activity"
        psi = rec["psi"]
        rows.append({
            "What": ASPECT_WORDS.get(str(rec["aspect"]), str(rec["aspect"]).replace("_", " ")),
            "Measure": ITEM_WORDS.get(str(rec["item"]), str(rec["item"]).replace("_", " ")),
            "Training": _number(rec["training"], share), "This file": _number(rec["scored"], share),
            "Difference": _difference(rec["difference"], share),
            "Stability (PSI)": "" if psi is None or psi != psi else f"{float(psi):.2f}",
            "Flag": FLAG_WORDS.get(str(rec["flag"]), "") if isinstance(rec["flag"], str) else "",
        })
    return pd.DataFrame(rows, columns=list(DRIFT_TABLE_COLUMNS))
