"""Forecast and ranking metrics as plain functions on arrays and frames.

Point metrics (MAE, RMSE, sMAPE, MASE) are for totals and aggregates only: on user x category
series (~98% zeros) predicting zero everywhere wins them, so engagement is judged by ranking
(AUC pooled over candidate pairs, gauc, HitRate@K and NDCG@K per user; see ``ranking``) instead.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from interest_core.forecasting.ranking import frame_ranking

TIERS: tuple[str, ...] = ("light", "medium", "heavy")


def _pair(y_true: np.ndarray | pd.Series, y_pred: np.ndarray | pd.Series) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"y_true {a.shape} and y_pred {b.shape} differ in shape")
    return a, b


def mae(y_true: np.ndarray | pd.Series, y_pred: np.ndarray | pd.Series) -> float:
    a, b = _pair(y_true, y_pred)
    return float(np.mean(np.abs(a - b))) if a.size else float("nan")


def rmse(y_true: np.ndarray | pd.Series, y_pred: np.ndarray | pd.Series) -> float:
    a, b = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((a - b) ** 2))) if a.size else float("nan")


def smape(y_true: np.ndarray | pd.Series, y_pred: np.ndarray | pd.Series) -> float:
    """Symmetric MAPE in percent (0..200); a point where both are 0 counts as a perfect 0."""
    a, b = _pair(y_true, y_pred)
    if not a.size:
        return float("nan")
    denom = np.abs(a) + np.abs(b)
    terms = np.divide(2.0 * np.abs(a - b), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(100.0 * terms.mean())


class MaseResult(NamedTuple):
    value: float  # mean over series of MAE / in-sample naive MAE
    n_series: int  # series that entered the mean
    n_excluded: int  # series left out because their in-sample scale is 0 (flat history)


def mase(y_true: np.ndarray, y_pred: np.ndarray, insample: np.ndarray, season: int = 1) -> MaseResult:
    """Mean absolute scaled error over series: rows of (n x h) arrays, scale from (n x T) insample.

    The scale is each series' mean |y_t - y_{t-season}| over its training history. A series with a
    zero scale (constant history) has no meaningful MASE: it is excluded and counted.
    """
    a, b = _pair(y_true, y_pred)
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    hist = np.atleast_2d(np.asarray(insample, dtype=float))
    if hist.shape[0] != a.shape[0]:
        raise ValueError(f"insample has {hist.shape[0]} series but y_true has {a.shape[0]}")
    if hist.shape[1] <= season:
        return MaseResult(float("nan"), 0, a.shape[0])
    scale = np.abs(hist[:, season:] - hist[:, :-season]).mean(axis=1)
    ok = scale > 0
    if not ok.any():
        return MaseResult(float("nan"), 0, int(a.shape[0]))
    per_series = np.abs(a[ok] - b[ok]).mean(axis=1) / scale[ok]
    return MaseResult(float(per_series.mean()), int(ok.sum()), int((~ok).sum()))


def coverage(y_true: np.ndarray | pd.Series, lo: np.ndarray | pd.Series, hi: np.ndarray | pd.Series) -> float:
    """Share of actuals inside [lo, hi] (NaN bounds count as misses)."""
    a = np.asarray(y_true, dtype=float)
    low, high = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    return float(np.mean((a >= low) & (a <= high))) if a.size else float("nan")


def mean_width(lo: np.ndarray | pd.Series, hi: np.ndarray | pd.Series) -> float:
    low, high = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    return float(np.mean(high - low)) if low.size else float("nan")


def interval_metrics(frame: pd.DataFrame, levels: tuple[int, ...], y_col: str = "y") -> dict[str, float]:
    """coverage_<L> and width_<L> for each level from a frame with y and lo_<L> / hi_<L>."""
    out: dict[str, float] = {}
    for lv in levels:
        lo, hi = f"lo_{lv}", f"hi_{lv}"
        if lo in frame and hi in frame:
            out[f"coverage_{lv}"] = coverage(frame[y_col], frame[lo], frame[hi])
            out[f"width_{lv}"] = mean_width(frame[lo], frame[hi])
    return out


# -- ranking ---------------------------------------------------------------------------------

def auc(labels: np.ndarray | pd.Series, scores: np.ndarray | pd.Series) -> float:
    """ROC AUC pooled over all candidates; NaN when only one class is present, a NaN score ranks last."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=float)
    if y.all() or not y.any():
        return float("nan")
    from sklearn.metrics import roc_auc_score

    finite = s[np.isfinite(s)]
    floor = float(finite.min()) - 1.0 if finite.size else 0.0
    return float(roc_auc_score(y, np.where(np.isnan(s), floor, s)))  # no score ranks last


def _per_user(frame: pd.DataFrame, k: int, user_col: str, score_col: str, label_col: str) -> pd.DataFrame:
    return frame_ranking(frame, (k,), user_col=user_col, score_col=score_col, label_col=label_col)


def hit_rate_at_k(frame: pd.DataFrame, k: int, *, user_col: str = "user_id", score_col: str = "p_engage",
                  label_col: str = "label") -> float:
    """Share of users (with >= 1 positive) whose top-k candidates by score hold a positive (ties: negatives first)."""
    values = _per_user(frame, k, user_col, score_col, label_col)[f"hit_rate@{k}"]
    return float(values.mean()) if values.notna().any() else float("nan")


def ndcg_at_k(frame: pd.DataFrame, k: int, *, user_col: str = "user_id", score_col: str = "p_engage",
              label_col: str = "label") -> float:
    """Mean over users (with >= 1 positive) of binary-relevance DCG@k / ideal DCG@k (ties: negatives first)."""
    values = _per_user(frame, k, user_col, score_col, label_col)[f"ndcg@{k}"]
    return float(values.mean()) if values.notna().any() else float("nan")


def gauc(frame: pd.DataFrame, *, user_col: str = "user_id", score_col: str = "p_engage",
         label_col: str = "label") -> float:
    """Per-user AUC averaged over the users that have both classes (unweighted group AUC)."""
    values = _per_user(frame, 1, user_col, score_col, label_col)["auc"]
    return float(values.mean()) if values.notna().any() else float("nan")


# -- segments --------------------------------------------------------------------------------

def activity_tiers(activity: pd.Series) -> pd.Series:
    """light / medium / heavy by terciles of training activity (index: user, values: activity).

    Ranks break ties in index order so equal activity never straddles tiers at random.
    """
    if activity.empty:
        return pd.Series([], dtype="string", index=activity.index)
    ranks = activity.rank(method="first")
    n_bins = min(3, len(activity))
    codes = np.ceil(ranks.to_numpy() * n_bins / len(activity)).astype(int) - 1
    labels = TIERS if n_bins == 3 else (TIERS[0], TIERS[2])[:n_bins]
    return pd.Series(np.asarray(labels, dtype=object)[codes], index=activity.index, dtype="string")


def candidate_coverage(candidates: pd.DataFrame, positives: pd.DataFrame,
                       keys: tuple[str, ...] = ("user_id", "category")) -> float:
    """Share of the positive (user, category) pairs of the test window that the candidate set holds."""
    if positives.empty:
        return float("nan")
    cols = list(keys)
    held = positives[cols].drop_duplicates().merge(candidates[cols].drop_duplicates(), on=cols, how="left",
                                                   indicator=True)
    return float((held["_merge"] == "both").mean())
