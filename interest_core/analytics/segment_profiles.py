"""Segments in words a merchandiser reads: short names from their traits ("Heavy buyers of Phones",
"Occasional viewers"), a side-by-side comparison of their KPIs, the traits heatmap's matrix with
category shares, plain labels for the features, and a warning when the segments barely separate.

Inputs are ``segments.user_features`` and a segment label per user (``UserSegmenter.labels_``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from interest_core.analytics.segments import BEHAVIOUR_FEATURES, NOISE, SHARE_PREFIX
from interest_core.periods import PERIOD_LABEL
from interest_core.text import counted, percent

WEAK_SILHOUETTE = 0.25  # under this, the usual reading of a silhouette is "no substantial structure"
MIN_LIFT = 1.3  # a category sets a segment apart when its share is this many times the population's
MIN_FOCUS = 0.15  # a name says "of X" only when the categories that set it apart hold this share of its interest
TRAIT_CATEGORIES = 8  # category columns in the traits heatmap


def feature_labels(freq: str) -> dict[str, str]:
    """Feature name -> what a person reads (the unit is the period: 'weeks since last active')."""
    unit = PERIOD_LABEL.get(freq, "period")
    return {"recency": f"{unit}s since last active", "frequency": f"share of {unit}s active",
            "intensity": f"events per active {unit}", "buy_share": "buy share",
            "action_share": "favourite, cart or buy share", "diversity": "categories (effective number)"}


def category_label(name: str) -> str:
    """A category as a name: anonymous numeric ids read 'category 4976', names stay as they are."""
    return f"category {name}" if str(name).isdigit() else str(name)


def _join(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _profile(features: pd.DataFrame, labels: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Per segment: mean features, z-scores against the population, and the population's mean."""
    pop_mean = features.mean()
    pop_std = features.std(ddof=0).replace(0, 1.0)
    means = features.groupby(labels).mean()
    return means, (means - pop_mean) / pop_std, pop_mean


def _distinct(mean: pd.Series, pop_mean: pd.Series, limit: int = 2) -> list[str]:
    """The segment's biggest category shares among those at least MIN_LIFT times the population's."""
    cols = [c for c in mean.index if c.startswith(SHARE_PREFIX) and c != f"{SHARE_PREFIX}other"]
    lift = mean[cols] / pop_mean[cols].replace(0, np.nan)
    picked = mean[cols][lift >= MIN_LIFT].sort_values(ascending=False)
    return [c.removeprefix(SHARE_PREFIX) for c in picked.index[:limit]]


# Tie-breakers for two segments that would get the same name: (feature, words when high, words when low).
_QUALIFIERS = (("diversity", "broad tastes", "narrow tastes"), ("intensity", "long sessions", "short sessions"),
               ("frequency", "active often", "rarely active"), ("action_share", "often save or cart",
                                                                 "rarely save or cart"),
               ("recency", "seen long ago", "seen lately"), ("buy_share", "buy often", "rarely buy"))


def _name_parts(mean: pd.Series, z: pd.Series, pop_mean: pd.Series) -> tuple[str, str, str]:
    """(how active, what they do, what they like) of one segment."""
    if z.get("recency", 0) >= 0.5 and mean.get("recency", 0) >= 1:
        adjective = "lapsing"
    elif z.get("intensity", 0) >= 0.5 and mean.get("frequency", 0) >= 0.3:
        adjective = "heavy"
    elif mean.get("frequency", 0) >= 0.45:
        adjective = "regular"
    elif mean.get("frequency", 0) < 0.15:
        adjective = "occasional"
    else:
        adjective = ""
    if z.get("buy_share", 0) >= 0.5:
        noun = "buyers"
    elif z.get("buy_share", 0) <= -0.5 or z.get("action_share", 0) <= -0.5:
        noun = "viewers"
    else:
        noun = "shoppers"
    focus = ""
    distinct = _distinct(mean, pop_mean)
    if z.get("diversity", 0) >= 1.0:
        focus = "with broad tastes"
    elif distinct and float(mean[[f"{SHARE_PREFIX}{c}" for c in distinct]].sum()) >= MIN_FOCUS:
        focus = "of " + _join([category_label(c) for c in distinct])
    return adjective, noun, focus


def _sentence(*words: str) -> str:
    text = " ".join(w for w in words if w)
    return text[0].upper() + text[1:]


def segment_names(features: pd.DataFrame, labels: Sequence[int] | np.ndarray) -> dict[int, str]:
    """Segment -> a short name from its traits, unique within the segmentation (noise: 'Unassigned')."""
    labels = np.asarray(labels)
    means, zs, pop_mean = _profile(features, labels)
    parts = {int(s): _name_parts(means.loc[s], zs.loc[s], pop_mean) for s in means.index if s != NOISE}
    if len(parts) > 1 and len({p[0] for p in parts.values()}) == 1:  # "regular" everywhere tells nothing apart
        parts = {s: ("", noun, focus) for s, (_, noun, focus) in parts.items()}
    names = {s: _sentence(*p) for s, p in parts.items()}
    if NOISE in means.index:
        names[NOISE] = "Unassigned users"
    for name in set(names.values()):
        twins = [s for s, n in names.items() if n == name]
        if len(twins) < 2:
            continue
        for s in twins:  # the trait that sets each twin apart most, in words
            z = zs.loc[s]
            feature, high, low = max(_QUALIFIERS, key=lambda q: abs(float(z.get(q[0], 0.0))))
            names[s] = f"{name}, {high if z.get(feature, 0.0) >= 0 else low}"
    seen: dict[str, int] = {}
    for s in sorted(names):  # still twins: number them
        seen[names[s]] = seen.get(names[s], 0) + 1
        if seen[names[s]] > 1:
            names[s] = f"{names[s]} ({seen[names[s]]})"
    return names


def trait_matrix(features: pd.DataFrame, labels: Sequence[int] | np.ndarray, freq: str, *,
                 max_categories: int = TRAIT_CATEGORIES) -> pd.DataFrame:
    """Segment x trait, in standard deviations from the population mean, with plain column names.

    The behaviour features come first, then the category shares that set some segment apart (lift
    >= MIN_LIFT), topped up with the population's biggest categories, at most ``max_categories``.
    """
    labels = np.asarray(labels)
    means, zs, pop_mean = _profile(features, labels)
    cats: list[str] = []
    for s in means.index:
        cats += [c for c in _distinct(means.loc[s], pop_mean, limit=3) if c not in cats]
    shares = [c for c in features.columns if c.startswith(SHARE_PREFIX) and c != f"{SHARE_PREFIX}other"]
    by_size = pop_mean[shares].sort_values(ascending=False).index.str.removeprefix(SHARE_PREFIX)
    cats += [c for c in by_size if c not in cats]
    cats = cats[:max_categories]
    behaviour = [c for c in BEHAVIOUR_FEATURES if c in zs.columns]
    out = zs[behaviour].rename(columns=feature_labels(freq))
    for c in cats:
        out[f"share: {category_label(c)}"] = zs[f"{SHARE_PREFIX}{c}"]
    return out.rename_axis("segment")


def separation_warning(silhouette: Mapping[int, float], n_segments: int) -> str | None:
    """Plain words when the segments barely separate (silhouette under WEAK_SILHOUETTE), with what to try."""
    score = silhouette.get(n_segments)
    if score is None or score >= WEAK_SILHOUETTE:
        return None
    if n_segments <= 2:
        advice = "try 4 or 5 segments (finer groups may stand apart better) or features over a shorter window"
    elif n_segments >= 6:
        advice = "try fewer segments (3 or 4) or features over a shorter window"
    else:
        advice = "try fewer segments for broad groups, more for finer ones, or features over a shorter window"
    return (f"These {n_segments} segments overlap a lot: their separation score (silhouette) is {score:.2f}, where 1 "
            f"means clearly apart and under {WEAK_SILHOUETTE} means weak. Read them as tendencies, not distinct "
            f"groups; {advice}.")


def segment_comparison(features: pd.DataFrame, labels: Sequence[int] | np.ndarray, freq: str,
                       descriptions: pd.DataFrame, churn: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per segment of ``descriptions`` (segments.describe_segments plus a ``name``), KPIs side by side.

    Columns: segment, name, users, share of users, events per active <unit>, share of <unit>s active, buy share,
    <unit>s since last active, top categories (with their share), churn risk (mean of the segment's users
    that ``churn`` scores: ChurnModel.predict_risk's user_id and risk; absent when None), description.
    """
    labels = np.asarray(labels)
    words = feature_labels(freq)
    frame = features.assign(_segment=labels, _events=np.expm1(features["intensity"]))
    grouped = frame.groupby("_segment")
    shares = [c for c in features.columns if c.startswith(SHARE_PREFIX) and c != f"{SHARE_PREFIX}other"]
    risk_of = None
    if churn is not None:  # each segment's mean risk over its scored users, in one pass (the page reruns this)
        # Arrow's hash lookup: a pandas reindex of 200,000 text ids cost the page 0.1 s a rerun at 100 M events.
        found = pc.index_in(pa.array(features.index.astype(str)), value_set=pa.array(churn["user_id"].astype(str)))
        at = found.fill_null(-1).to_numpy()
        risk = np.full(len(at), np.nan)
        risk[at >= 0] = churn["risk"].to_numpy(float)[at[at >= 0]]
        risk_of = pd.Series(risk, index=labels).groupby(level=0).mean()
    rows = []
    for _, d in descriptions.iterrows():
        seg = int(d["segment"])
        part = grouped.get_group(seg) if seg in grouped.groups else frame.iloc[:0]
        top = part[shares].mean().sort_values(ascending=False).head(3)
        row: dict[str, object] = {
            "segment": seg, "name": d.get("name", f"Segment {seg}"), "users": int(d["users"]),
            "share of users": float(d["share_of_users"]),
            words["intensity"]: float(part["_events"].mean()), words["frequency"]: float(part["frequency"].mean()),
            words["buy_share"]: float(part["buy_share"].mean()), words["recency"]: float(part["recency"].mean()),
            "top categories": ", ".join(f"{category_label(c.removeprefix(SHARE_PREFIX))} ({v:.0%})"
                                        for c, v in top.items() if v > 0),
        }
        if risk_of is not None:
            row["churn risk"] = float(risk_of.get(seg, float("nan")))
        row["description"] = d["description"]
        rows.append(row)
    return pd.DataFrame(rows)


def member_table(features: pd.DataFrame, labels: Sequence[int] | np.ndarray, segment: int,
                 freq: str) -> pd.DataFrame:
    """user_id and the behaviour features of one segment's users in plain words, most active first
    (intensity as events per active period, not its logarithm)."""
    from interest_core.analytics.segments import segment_users

    users = segment_users(features, labels, segment)
    users["intensity"] = np.expm1(users["intensity"])
    return users.rename(columns=feature_labels(freq))


def sizes_text(n_users: int, n_segments: int, hidden: int, min_users: int) -> str:
    """'1,500 users in 5 segments; 1 segment under 5 users hidden.'"""
    text = f"{counted(n_users, 'user')} in {counted(n_segments, 'segment')}"
    return text + (f"; {counted(hidden, 'segment')} under {counted(min_users, 'user')} hidden." if hidden else ".")


def side_by_side(compared: pd.DataFrame, freq: str) -> pd.DataFrame:
    """``segment_comparison`` turned for reading: one column per segment ("0: Heavy buyers"), one row per
    KPI, every cell formatted text (shares as '58.7%', counts with thousands separators, n/a for none)."""
    words = feature_labels(freq)
    formats: dict[str, Callable[[object], str]] = {
        "users": lambda v: _num(v, "{:,.0f}"), "share of users": _pct, words["intensity"]: lambda v: _num(v, "{:,.1f}"),
        words["frequency"]: _pct, words["buy_share"]: _pct, words["recency"]: lambda v: _num(v, "{:,.1f}"),
        "churn risk": _pct, "top categories": str, "description": str,
    }
    rows = [c for c in formats if c in compared.columns]
    sheet = pd.DataFrame({f"{int(r['segment'])}: {r['name']}": [formats[c](r[c]) for c in rows]
                          for _, r in compared.iterrows()}, index=rows)
    return sheet.rename(index={"description": "in words"})


def _num(value: object, pattern: str) -> str:
    v = float(value)  # type: ignore[arg-type]
    return "n/a" if np.isnan(v) else pattern.format(v)


def _pct(value: object) -> str:
    return percent(float(value), 1)  # type: ignore[arg-type]
