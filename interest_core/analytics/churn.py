"""Churn risk: the probability that an active user is inactive over the next ``horizon`` periods.

Vocabulary (one name each):
- *active at cutoff t*: the user had at least one event in the last ``active_within`` periods up to t;
- *churned after t*: no event at all in periods t+1 .. t+horizon;
- *snapshot*: the features of every active user at one cutoff, with the label when it is known.

The model is trained on labelled snapshots of earlier cutoffs only (a label at t needs periods up
to t+horizon), calibrated on the latest labelled cutoffs, and scores the users active at the last
period. ``evaluate_churn`` repeats that at past cutoffs and compares with the recency baseline
(score = periods since last activity). Features and reasons live in ``churn_features``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from interest_core.analytics.churn_features import (
    FEATURES,
    Activity,
    activity_from_panel,
    feature_matrices,
    labels_at,
    reasons_text,
)
from interest_core.errors import ModelError, NotFittedError
from interest_core.text import counted, percent

RISK_COLUMNS: tuple[str, ...] = ("user_id", "cutoff", "risk", "recency", "reasons")
# Horizon (periods) the pages default to. Measured on the weekly Tmall log: 1 week marks 22% of active
# users as "churned" (a quiet week is not churn), 2 weeks 12%, 4 weeks 5% with too few labelled
# cutoffs left in 17 weeks; 2 weeks is the compromise. Other frequencies: about a week or a month.
DEFAULT_HORIZON: dict[str, int] = {"h": 24, "D": 7, "W": 2, "M": 1}
MIN_CLASS_SNAPSHOTS = 5  # training snapshots each outcome (churned, stayed) needs for a model to learn from
MIN_HISTORY = 4  # periods of history before the first cutoff a model learns from (ChurnModel.min_history)
TEST_CUTOFFS = 3  # backtest cutoffs (evaluate_churn.n_test_cutoffs)
TOP_SHARE = 0.2  # "the riskiest 20%": the list a marketer would act on, in the plain-words quality figure
# Users whose snapshots a model learns from (a seeded sample on larger logs; every active user is scored).
# On Tmall (884 users) learning from 300 of them costs 0.03 ROC-AUC (0.804 vs 0.834; recency 0.721).
MAX_TRAIN_USERS = 5_000


def max_horizon(n_periods: int, *, min_history: int = MIN_HISTORY, n_test_cutoffs: int = TEST_CUTOFFS) -> int:
    """The longest horizon a log of ``n_periods`` complete periods can be backtested at (0: none).

    The earliest test cutoff t = last - horizon - (n_test_cutoffs - 1) needs two labelled cutoffs before it
    (t >= horizon + min_history), so 2 * horizon <= n_periods - n_test_cutoffs - min_history.
    """
    return max(0, (int(n_periods) - n_test_cutoffs - min_history) // 2)


def span_periods(start: pd.Timestamp, last_complete: pd.Timestamp, freq: str) -> int:
    """Complete periods from the one holding ``start`` (the main span's first event) to ``last_complete``."""
    from interest_core.periods import period_grid, period_start

    first = period_start(start, freq)
    return 0 if first > pd.Timestamp(last_complete) else len(period_grid(first, pd.Timestamp(last_complete), freq))


def span_horizon(freq: str, span_start: pd.Timestamp, last_complete: pd.Timestamp) -> tuple[int, int]:
    """(default horizon, complete periods) of a log whose main span starts at ``span_start``."""
    n_periods = span_periods(span_start, last_complete, freq)
    return horizon_for_span(freq, n_periods), n_periods


def horizon_for_span(freq: str, n_periods: int) -> int:
    """The page's default horizon: DEFAULT_HORIZON[freq], shortened to what the span allows.

    On the 9-day Taobao sample at daily periods the usual 7 days leave no labelled cutoff with both
    outcomes (the error the page showed); 1 day does. Raises ModelError when no horizon fits.
    """
    longest = max_horizon(n_periods)
    if longest < 1:
        raise ModelError(
            f"the data holds only {counted(n_periods, 'complete period')}, too few to learn churn from (it needs at "
            f"least {MIN_HISTORY + TEST_CUTOFFS + 2})",
            "pick a shorter period (e.g. daily or hourly) or a wider date range in the sidebar")
    return min(DEFAULT_HORIZON.get(freq, 1), longest)


class FrozenCalibrated:
    """A fitted classifier plus a calibrator (Platt sigmoid or isotonic) fitted on a later cutoff slice.

    scikit-learn's CalibratedClassifierCV would cross-validate within the slice; the slice *is* the
    held-out data here, so the map from score to probability is fitted on all of it.
    """

    def __init__(self, base: Pipeline, method: str = "sigmoid") -> None:
        self.base = base
        self.method = method

    def fit(self, x: np.ndarray, y: np.ndarray) -> FrozenCalibrated:
        score = self.base.predict_proba(x)[:, 1]
        if self.method == "sigmoid":
            self.calibrator_: object = LogisticRegression(C=1e4).fit(_logit(score)[:, None], y)
        elif self.method == "isotonic":
            self.calibrator_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(score, y)
        else:
            raise ModelError(f"unknown calibration {self.method!r}", "use 'sigmoid', 'isotonic' or 'none'")
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        score = self.base.predict_proba(x)[:, 1]
        if isinstance(self.calibrator_, IsotonicRegression):
            p = self.calibrator_.predict(score)
        else:
            p = self.calibrator_.predict_proba(_logit(score)[:, None])[:, 1]  # type: ignore[attr-defined]
        return np.column_stack([1.0 - p, p])


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


class ChurnModel(BaseEstimator):
    """Calibrated churn classifier over user snapshots of an interest panel (scikit-learn contract).

    ``fit(panel)`` learns from every labelled cutoff up to ``last_period`` (default: the panel's
    last period; pass the last *complete* one); ``predict_risk()`` scores users active at it.
    """

    def __init__(self, freq: str = "W", horizon: int = 1, active_within: int = 4, short_window: int = 4,
                 long_window: int = 12, min_history: int = 4, classifier: str = "logistic",
                 calibration: str = "sigmoid", calibration_cutoffs: int = 2, n_reasons: int = 3,
                 random_state: int = 0, max_train_users: int | None = MAX_TRAIN_USERS) -> None:
        self.freq = freq
        self.horizon = horizon
        self.active_within = active_within
        self.short_window = short_window
        self.long_window = long_window
        self.min_history = min_history
        self.classifier = classifier
        self.calibration = calibration
        self.calibration_cutoffs = calibration_cutoffs
        self.n_reasons = n_reasons
        self.random_state = random_state
        self.max_train_users = max_train_users

    # -- fitting ---------------------------------------------------------------------------------
    def _base_estimator(self) -> Pipeline:
        if self.classifier == "logistic":
            return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
        if self.classifier == "hgb":
            return make_pipeline(HistGradientBoostingClassifier(
                max_iter=150, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=40, l2_regularization=1.0,
                random_state=self.random_state))
        raise ModelError(f"unknown churn classifier {self.classifier!r}", "use classifier='logistic' or 'hgb'")

    def fit(self, panel: pd.DataFrame, y: None = None, last_period: pd.Timestamp | None = None) -> ChurnModel:
        if self.horizon < 1 or self.active_within < 1:
            raise ModelError("horizon and active_within must be at least 1 period", "pass e.g. horizon=2")
        return self.fit_activity(activity_from_panel(panel, self.freq, last_period=last_period))

    def fit_activity(self, activity: Activity, features: dict[str, np.ndarray] | None = None) -> ChurnModel:
        """``fit`` on a panel's activity already read (``activity_from_panel``, or ``Activity.up_to`` a cutoff);
        ``features``: its ``feature_matrices`` when already computed (with this model's windows)."""
        if self.horizon < 1 or self.active_within < 1:
            raise ModelError("horizon and active_within must be at least 1 period", "pass e.g. horizon=2")
        feats = self._features(activity) if features is None else features
        learners = None  # every user's snapshots, or those of a seeded sample on larger logs
        if self.max_train_users and len(activity.users) > self.max_train_users:
            learners = np.zeros(len(activity.users), dtype=bool)
            rng = np.random.default_rng(self.random_state)
            learners[rng.choice(len(activity.users), self.max_train_users, replace=False)] = True
        self.n_train_users_ = len(activity.users) if learners is None else self.max_train_users
        last = len(activity.periods) - 1
        labelled = list(range(self.min_history - 1, last - self.horizon + 1))
        if len(labelled) < 2:
            raise ModelError(
                f"only {len(labelled)} labelled cutoff(s): {len(activity.periods)} periods, horizon {self.horizon}, "
                f"min_history {self.min_history}",
                "use a longer history, a finer frequency or a shorter horizon")
        n_cal = min(self.calibration_cutoffs, len(labelled) - 1) if self.calibration != "none" else 0
        train_cut, cal_cut = labelled[: len(labelled) - n_cal], labelled[len(labelled) - n_cal:]
        x_train, y_train = self._snapshots(activity, feats, train_cut, learners)
        # A handful of one class is one class: a model fitted on 1 churner in 184 snapshots (the Taobao
        # sample's stray early events at a 7-day horizon) rated every real user ~100% at risk.
        churned = int(y_train.sum())
        if min(churned, y_train.size - churned) < MIN_CLASS_SNAPSHOTS:
            raise ModelError(f"training snapshots hold one class only ({churned} of {y_train.size} churned; "
                             f"each outcome needs {MIN_CLASS_SNAPSHOTS}+)",
                             "use a longer history or a shorter horizon")
        # One BLAS thread: on a busy 2-core machine threads contending made these small fits many times slower.
        with threadpool_limits(1):
            base = self._base_estimator().fit(x_train, y_train)
            self.calibrated_ = False
            model: object = base
            if cal_cut:
                x_cal, y_cal = self._snapshots(activity, feats, cal_cut, learners)
                if np.unique(y_cal).size == 2 and y_cal.size >= 20:
                    # A calibrator fitted on later cutoffs than the base: it sees the drift in base rate.
                    model = FrozenCalibrated(base, self.calibration).fit(x_cal, y_cal)
                    self.calibrated_ = True
        self.model_ = model
        self.base_model_ = base
        self.reference_ = np.median(x_train, axis=0)  # the "typical active user" reasons compare against
        self.train_cutoffs_ = activity.periods[train_cut]
        self.calibration_cutoffs_ = activity.periods[cal_cut]
        self.n_train_ = int(y_train.size)
        self.base_rate_ = float(y_train.mean())
        self.last_period_ = activity.periods[-1]
        self.activity_ = activity
        self.features_ = feats
        return self

    def _features(self, activity: Activity) -> dict[str, np.ndarray]:
        return feature_matrices(activity, short=self.short_window, long=self.long_window)

    def _eligible(self, feats: dict[str, np.ndarray], t: int) -> np.ndarray:
        return feats["recency"][:, t] < self.active_within

    def _snapshots(self, activity: Activity, feats: dict[str, np.ndarray], cutoffs: list[int],
                   learners: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for t in cutoffs:
            rows = self._eligible(feats, t) if learners is None else self._eligible(feats, t) & learners
            xs.append(np.column_stack([feats[f][rows, t] for f in FEATURES]))
            ys.append(labels_at(activity, t, self.horizon)[rows])
        return np.vstack(xs), np.concatenate(ys).astype(int)

    # -- scoring ---------------------------------------------------------------------------------
    def check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("ChurnModel is not fitted", "call fit(panel) before predict_risk")

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        self.check_fitted()
        return self.model_.predict_proba(x)  # type: ignore[attr-defined]

    def snapshot(self, cutoff: pd.Timestamp | None = None) -> tuple[pd.DataFrame, np.ndarray]:
        """Features of users active at a cutoff (default: the last fitted period) and their feature matrix."""
        self.check_fitted()
        t = len(self.activity_.periods) - 1 if cutoff is None else self.activity_.index_of(cutoff)
        rows = self._eligible(self.features_, t)
        x = np.column_stack([self.features_[f][rows, t] for f in FEATURES])
        frame = pd.DataFrame(x, columns=list(FEATURES))
        frame.insert(0, "user_id", pd.array(self.activity_.users[rows], dtype="string"))
        frame.insert(1, "cutoff", self.activity_.periods[t])
        return frame, x

    def predict_risk(self, cutoff: pd.Timestamp | None = None, *, reasons: bool = True) -> pd.DataFrame:
        """user_id, cutoff, risk, recency, reasons (+ the features), highest risk first."""
        frame, x = self.snapshot(cutoff)
        frame["risk"] = self.predict_proba(x)[:, 1] if len(x) else np.array([], dtype=float)
        frame["reasons"] = self.reasons(frame, x) if reasons and len(x) else ""
        cols = [*RISK_COLUMNS, *[f for f in FEATURES if f != "recency"]]
        return frame[cols].sort_values(["risk", "user_id"], ascending=[False, True], ignore_index=True)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per-user, per-feature risk contribution: risk minus the risk with that feature set to typical.

        Model-agnostic (works for the calibrated logistic and the boosted model alike); positive = raises risk.
        """
        base = self.predict_proba(x)[:, 1]
        out = np.empty_like(x, dtype=float)
        for j in range(x.shape[1]):
            moved = x.copy()
            moved[:, j] = self.reference_[j]
            out[:, j] = base - self.predict_proba(moved)[:, 1]
        return out

    def reasons(self, frame: pd.DataFrame, x: np.ndarray) -> list[str]:
        contrib = self.contributions(x)
        return reasons_text(frame, contrib, freq=self.freq, short=self.short_window, long=self.long_window,
                            n=self.n_reasons)


def quality_in_words(summary: Mapping[str, float], unit: str) -> str:
    """A backtest summary (``ChurnEvaluation.summary``) in a marketer's words (markdown): how many of the
    users the model flags did go quiet, against everyone and against a list by time since the last visit."""
    if "top_churn_rate" not in summary:  # a backtest saved before these figures existed
        return (f"**How good is the list?** In a test on the last {counted(TEST_CUTOFFS, unit)} whose outcome is "
                f"known, {percent(summary['base_rate'])} of active users went quiet.")
    top, base, recency = summary["top_churn_rate"], summary["base_rate"], summary["recency_top_churn_rate"]
    times = f" ({top / base:.1f} times the average)" if base > 0 else ""
    text = (f"**How good is the list?** Tested on the last {counted(TEST_CUTOFFS, unit)} whose outcome is known: "
            f"of the {percent(summary['top_share'])} of active users it rated riskiest, **{percent(top)} went quiet**, "
            f"against {percent(base)} of all active users{times}. ")
    if top > recency + 0.02:
        text += f"Listing the users longest inactive instead would have caught {percent(recency)}."
    else:
        text += (f"Listing the users longest inactive does about as well here ({percent(recency)}): "
                 "on this data, time since the last visit says most of what the model knows.")
    return text


# -- evaluation ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChurnEvaluation:
    """Time-ordered backtest of the churn model against the recency baseline (pooled test cutoffs)."""

    horizon: int
    freq: str
    test_cutoffs: tuple[pd.Timestamp, ...]
    n_test: int
    base_rate: float
    roc_auc: float
    pr_auc: float
    recency_roc_auc: float
    recency_pr_auc: float
    brier: float
    brier_base_rate: float  # Brier of always predicting the training base rate (the skill reference)
    reliability: pd.DataFrame = field(repr=False)
    per_cutoff: pd.DataFrame = field(repr=False)
    scores: pd.DataFrame = field(repr=False)

    def summary(self) -> dict[str, float]:
        """The figures, with ``top_churn_rate`` / ``recency_top_churn_rate``: the churn rate among the
        riskiest TOP_SHARE of users by the model and by recency (what a marketer's list would have caught)."""
        return {"roc_auc": self.roc_auc, "pr_auc": self.pr_auc, "recency_roc_auc": self.recency_roc_auc,
                "recency_pr_auc": self.recency_pr_auc, "brier": self.brier, "base_rate": self.base_rate,
                "n_test": float(self.n_test), "top_share": TOP_SHARE,
                "top_churn_rate": top_churn_rate(self.scores, "risk", TOP_SHARE),
                "recency_top_churn_rate": top_churn_rate(self.scores, "recency", TOP_SHARE)}


def top_churn_rate(scores: pd.DataFrame, by: str, share: float = TOP_SHARE) -> float:
    """Churn rate among the ``share`` of snapshots ranked highest by ``by``, per cutoff and pooled.

    Ties at the edge are broken pessimistically (churners last), so a score with many ties (recency)
    gets no credit for luck.
    """
    if scores.empty:
        return float("nan")
    caught = listed = 0
    for _, part in scores.groupby("cutoff"):
        n = max(1, round(len(part) * share))
        ranked = part.sort_values([by, "y"], ascending=[False, True], kind="stable").head(n)
        caught += int(ranked["y"].sum())
        listed += n
    return caught / listed


def reliability_table(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """bin, p_mean (predicted), observed (churn rate), n: equal-count bins, so every row has support."""
    if len(p) == 0:
        return pd.DataFrame(columns=["bin", "p_mean", "observed", "n"])
    n_bins = max(1, min(n_bins, len(p) // 20 or 1))
    ranks = pd.Series(p).rank(method="first").to_numpy()
    bins = np.minimum((ranks - 1) * n_bins // len(p), n_bins - 1).astype(int)
    frame = pd.DataFrame({"bin": bins, "p": p, "y": y})
    out = frame.groupby("bin", as_index=False).agg(p_mean=("p", "mean"), observed=("y", "mean"), n=("y", "size"))
    return out


def _safe_auc(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    if np.unique(y).size < 2:
        return float("nan"), float("nan")
    return float(roc_auc_score(y, s)), float(average_precision_score(y, s))


def evaluate_churn(panel: pd.DataFrame | None, *, freq: str = "W", horizon: int = 1, n_test_cutoffs: int = 3,
                   last_period: pd.Timestamp | None = None, activity: Activity | None = None,
                   **params: object) -> ChurnEvaluation:
    """Refit at each of the last ``n_test_cutoffs`` labelled cutoffs on data up to it; score the next horizon.

    At test cutoff T the model sees periods <= T only (train cutoffs < calibration cutoffs, all labelled by T)
    and is judged on who is inactive in T+1 .. T+horizon. ``activity``: the panel's activity up to
    ``last_period`` when already read (``panel`` is then not read). The features are computed once: a
    cutoff's columns never see later periods, so each refit reads its users' columns up to its cutoff.
    """
    if activity is None and panel is None:
        raise ModelError("evaluate_churn needs a panel or its activity", "pass the interest panel")
    full = activity if activity is not None else activity_from_panel(panel, freq, last_period=last_period)
    features = ChurnModel(freq=freq, horizon=horizon, **params)._features(full)  # type: ignore[arg-type]
    last = len(full.periods) - 1
    tests = list(range(last - horizon - n_test_cutoffs + 1, last - horizon + 1))
    rows, fitted = [], []
    for t in tests:
        seen = full.seen_by(t)
        model = ChurnModel(freq=freq, horizon=horizon, **params).fit_activity(  # type: ignore[arg-type]
            full.up_to(t), {name: matrix[seen, :t + 1] for name, matrix in features.items()})
        frame, x = model.snapshot()
        label = labels_at(full, t, horizon)[full.positions(frame["user_id"].to_numpy())]
        rows.append(pd.DataFrame({"cutoff": full.periods[t], "user_id": frame["user_id"], "y": label.astype(int),
                                  "risk": model.predict_proba(x)[:, 1], "recency": frame["recency"]}))
        # what the summary needs of each model (the models themselves hold every user's feature matrices)
        fitted.append({"n_train": model.n_train_, "train_users": model.n_train_users_, "base_rate": model.base_rate_})
    scores = pd.concat(rows, ignore_index=True)
    y, p = scores["y"].to_numpy(), scores["risk"].to_numpy()
    roc, pr = _safe_auc(y, p)
    r_roc, r_pr = _safe_auc(y, scores["recency"].to_numpy(dtype=float))
    per = []
    for (cut, g), fit in zip(scores.groupby("cutoff"), fitted, strict=True):
        m_roc, m_pr = _safe_auc(g["y"].to_numpy(), g["risk"].to_numpy())
        b_roc, b_pr = _safe_auc(g["y"].to_numpy(), g["recency"].to_numpy(dtype=float))
        per.append({"cutoff": cut, "n": len(g), "churn_rate": g["y"].mean(), "roc_auc": m_roc, "pr_auc": m_pr,
                    "recency_roc_auc": b_roc, "recency_pr_auc": b_pr, "n_train": fit["n_train"],
                    "train_users": fit["train_users"]})
    base_rates = np.concatenate([np.full(len(g), m["base_rate"]) for (_, g), m in
                                 zip(scores.groupby("cutoff"), fitted, strict=True)])
    return ChurnEvaluation(
        horizon=horizon, freq=freq, test_cutoffs=tuple(full.periods[tests]), n_test=len(scores),
        base_rate=float(y.mean()), roc_auc=roc, pr_auc=pr, recency_roc_auc=r_roc, recency_pr_auc=r_pr,
        brier=float(brier_score_loss(y, p)), brier_base_rate=float(np.mean((base_rates - y) ** 2)),
        reliability=reliability_table(y, p), per_cutoff=pd.DataFrame(per), scores=scores,
    )
