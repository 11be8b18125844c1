"""What the Churn, Promotions and Demand pages stand on: the last complete period, the window the
engagement forecaster learns from, and the views assembled from the fitted models.

Every model here learns from complete periods only: a partial last period would read as everyone
slowing down.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from interest_core.forecasting import series
from interest_core.periods import PERIOD_OFFSETS

OPS_HISTORY = 26  # periods of (user, category) history the engagement forecaster learns from


def engagement_training(panel: pd.DataFrame, freq: str, last: pd.Timestamp,
                        history: int = OPS_HISTORY) -> pd.DataFrame:
    """The engagement frame of the ``history`` periods up to ``last``: what the Promotions forecaster fits on."""
    start = last - PERIOD_OFFSETS[freq] * (history - 1)
    return series.training_frame(panel[panel["period"] <= last], "engagement", freq, start=start, end=last)


@dataclass(frozen=True, eq=False)
class ChurnBacktest:
    summary: Mapping[str, float]  # ROC/PR-AUC of the model and of recency, Brier, base rate, n_test
    brier_base_rate: float  # Brier of always guessing the training base rate
    reliability: pd.DataFrame
    per_cutoff: pd.DataFrame


def churn_backtest(panel: pd.DataFrame | None, freq: str, horizon: int, last: pd.Timestamp,
                   activity: Any = None) -> ChurnBacktest:
    """Time-ordered backtest of the churn model against ranking by recency (analytics.churn.evaluate_churn);
    ``activity``: the panel's churn activity up to ``last`` when already read."""
    from interest_core.analytics.churn import evaluate_churn

    ev = evaluate_churn(panel, freq=freq, horizon=horizon, last_period=last, activity=activity)
    return ChurnBacktest(summary=ev.summary(), brier_base_rate=ev.brier_base_rate, reliability=ev.reliability,
                         per_cutoff=ev.per_cutoff)


def promotion_categories(scores: pd.DataFrame) -> list[str]:
    """Categories with a forecast, by how many users are expected to engage with them (most first)."""
    expected = scores.groupby("category")["p_engage"].sum().sort_values(ascending=False)
    return expected.index.astype(str).tolist()


@dataclass(frozen=True, eq=False)
class Promotion:
    ranked: pd.DataFrame  # the full list, best first
    curve: pd.DataFrame  # expected reach by list size


def promotion(scores: pd.DataFrame, category: str, churn: pd.DataFrame | None,
              max_churn_risk: float | None) -> Promotion:
    """The ranked list of one category's candidates (``scores``: promotions.engagement_scores) and its reach."""
    from interest_core.analytics import promotions as promo

    ranked = promo.promotion_list(scores.assign(yhat=0.0), category, churn=churn, max_churn_risk=max_churn_risk)
    return Promotion(ranked=ranked, curve=promo.reach_curve(ranked))


def promotion_lift(panel: pd.DataFrame, model: str, category: str, freq: str, horizon: int,
                   last: pd.Timestamp) -> pd.DataFrame:
    """list_size, model/recency/random hits and lifts, summed over the last 3 backtest cutoffs (+ cutoffs)."""
    from interest_core.analytics.promotions import backtest_lift
    from interest_core.forecasting.forecasters import make_forecaster

    result = backtest_lift(panel, lambda: make_forecaster(model), category, freq=freq, horizon=horizon,
                           last_period=last, history=OPS_HISTORY)
    return result.table.assign(cutoffs=len(result.cutoffs))


# -- the learned promotion list and forward demand per segment (ui.planning) ---------------------

def promotion_horizons(panel: pd.DataFrame, freq: str, n_cutoffs: int = 3) -> list[int]:
    """Horizons (1-4 periods) whose backtest fits the log: 3 cutoffs, each after a past cutoff to learn from."""
    return horizons_for(int(panel["period"].nunique()), n_cutoffs)


def horizons_for(periods: int, n_cutoffs: int = 3) -> list[int]:
    """``promotion_horizons`` of a panel with this many periods."""
    return [h for h in (1, 2, 3, 4) if periods >= 2 * h + n_cutoffs + 1]


def recent_categories(panel: pd.DataFrame, limit: int = 200, recent: int = 4) -> list[str]:
    """Categories by distinct users in the last ``recent`` periods (then all-time), most first."""
    last = panel["period"].drop_duplicates().nlargest(recent).min()
    users = panel[panel["interest"] > 0].groupby("category", observed=True)["user_id"].nunique()
    lately = panel[(panel["period"] >= last) & (panel["interest"] > 0)].groupby(
        "category", observed=True)["user_id"].nunique()
    order = pd.DataFrame({"lately": lately, "users": users}).fillna(0)
    order = order.sort_values(["lately", "users"], ascending=False, kind="stable")
    return order.index.astype(str).tolist()[:limit]


def learned_promotion(scores: pd.DataFrame, category: str) -> Promotion:
    """The learned list of one category (``PromotionModel.score`` rows) and its expected reach curve."""
    from interest_core.analytics import promotions as promo

    ranked = promo.learned_list(scores, category)
    return Promotion(ranked=ranked, curve=promo.reach_curve(ranked))


def segment_names(descriptions: pd.DataFrame) -> dict[int, str]:
    """Segment number -> the name a page shows ('name' when the segmentation gives one, else 'segment N')."""
    names = descriptions["name"] if "name" in descriptions else pd.Series(
        [f"segment {s}" for s in descriptions["segment"]], index=descriptions.index)
    return {int(s): str(n) for s, n in zip(descriptions["segment"], names, strict=True)}


def segment_members(labels: pd.Series, descriptions: pd.DataFrame) -> pd.DataFrame:
    """user_id, segment: each segmented user and the name of their segment (``segment_names``)."""
    names = segment_names(descriptions)
    member = labels.rename(index=str).map(names)
    member = member[member.notna()]
    return pd.DataFrame({"user_id": member.index.astype("string"), "segment": member.astype("string").to_numpy()})


def segment_totals(panel: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """category (the segment's name), period, interest, users: the interest of each segment's users summed per
    period, and how many of them the panel holds (what a demand forecast per segment reads;
    ``page_frames.segment_totals_panel`` sums the stored panel the same way in DuckDB)."""
    member = members.set_index("user_id")["segment"]
    rows = panel.assign(category=panel["user_id"].astype("string").map(member).astype("string"))
    rows = rows[rows["category"].notna()]
    sums = rows.groupby(["category", "period"], as_index=False, observed=True)["interest"].sum()
    users = rows.groupby("category", observed=True)["user_id"].nunique().rename("users")
    sums = sums.merge(users, left_on="category", right_index=True, how="left")
    return sums.astype({"category": "string", "interest": "float64", "users": "int64"}).sort_values(
        ["category", "period"], ignore_index=True)


def segment_demand(totals: pd.DataFrame, segments: list[str], freq: str, horizon: int,
                   last_period: pd.Timestamp | None = None, progress: Any = None) -> Any:
    """Each segment's total interest per period forecast ``horizon`` ahead (``demand_forecast`` over the rows of
    ``segment_totals``) of the segments given, most interest first."""
    from interest_core.analytics.demand import demand_forecast

    # A handful of series: intervals from the backtest's errors (the models' pooled quantiles cannot
    # tell 80% from 95% with two or three series).
    return demand_forecast(totals, freq, categories=segments, horizon=horizon, min_users=1, intervals="backtest",
                           last_period=last_period, progress=progress)
