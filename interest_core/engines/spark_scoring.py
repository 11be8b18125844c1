"""Batch scoring on Spark: a saved model applied to groups of series inside the executors.

The file is ingested on Spark (``spark_ingest``), its panel built on Spark (``spark_panel``),
and the saved model folder is loaded, hash-checked, by each Python worker and applied with
``applyInPandas``. How series are grouped follows what a forecast depends on, so the scores are
the ones DuckDB gives:

- ARIMA fits one model per series from that series alone, so each series is its own group,
  spread over the executors;
- the naive baselines calibrate p_engage over every series of the scored file, and the LSTM
  reads context channels computed over the whole file (a user's total and breadth, a category's
  users and total), so their series cannot be split: they run as one group. Splitting them
  would need those file-wide aggregates computed in Spark first and handed to each group.

Only the forecasts (pairs x h rows) come back to the driver, through Arrow; the events and the
panel stay in Spark, and the drift table is built from Spark aggregates.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from interest_core.engines.spark_panel import panel_frame, register_events
from interest_core.errors import ModelError
from interest_core.forecasting import scoring, series
from interest_core.forecasting.forecasters.base import FORECAST_COLUMNS
from interest_core.forecasting.forecasters.registry import registry_name
from interest_core.ingest.formats import BEHAVIORS, ColumnMapping
from interest_core.panel import events_source, period_bounds
from interest_core.store import Store

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

PER_SERIES_MODELS = ("arima",)  # fitted per series from that series alone: one group per series
Grouping = Literal["series", "whole"]
FORECAST_SCHEMA = "unique_id string, period timestamp_ntz, model string, yhat double, p_engage double"
_LOADED: dict[str, Any] = {}  # model folder -> loaded model, once per Python worker


def _load(model_dir: str) -> Any:
    from interest_core.forecasting.persist import load_model

    if model_dir not in _LOADED:
        _LOADED[model_dir] = load_model(model_dir)  # checks every file's size and sha256 first
    return _LOADED[model_dir]


def grouping_for(saved: Any) -> Grouping:
    return "series" if registry_name(saved.model) in PER_SERIES_MODELS else "whole"


def forecast_groups(panel: DataFrame, model_dir: str, freq: str, horizon: int, first: pd.Timestamp,
                    cutoff: pd.Timestamp, *, grouping: Grouping) -> DataFrame:
    """Forecasts of every series in ``panel`` (FORECAST_COLUMNS), computed in the executors."""
    from pyspark.sql import functions as F

    def apply(group: pd.DataFrame) -> pd.DataFrame:
        # period arrives as datetime64; series.training_frame builds the same dense frame as on DuckDB,
        # on the same grid (from the file's first period, not the group's).
        frame = series.training_frame(group, "engagement", freq, start=first, end=cutoff)
        if frame.empty:
            return pd.DataFrame(columns=list(FORECAST_COLUMNS))
        out = scoring._forecast(_load(model_dir).model, frame, freq, horizon)
        return out[list(FORECAST_COLUMNS)].astype({"yhat": float, "p_engage": float})

    active = panel.where(F.col("period") <= F.lit(cutoff.to_pydatetime()).cast("timestamp_ntz"))
    if grouping == "series":
        return active.groupBy("user_id", "category").applyInPandas(apply, FORECAST_SCHEMA)
    whole = active.withColumn("_whole", F.lit(0))
    return whole.groupBy("_whole").applyInPandas(lambda g: apply(g.drop(columns="_whole")), FORECAST_SCHEMA)


def _drift(spark: SparkSession, profile: dict[str, Any], unseen_events: float) -> pd.DataFrame:
    """The drift table from aggregates of the panel view ``ic_panel`` (no panel leaves Spark)."""
    n = " + ".join(f"n_{b}" for b in BEHAVIORS)
    mix = spark.sql("SELECT " + ", ".join(f"sum(n_{b}) AS {b}" for b in BEHAVIORS) + " FROM ic_panel").collect()[0]
    totals = pd.Series({b: float(mix[b] or 0) for b in BEHAVIORS})
    per_cat = spark.sql(f"SELECT category, CAST(sum({n}) AS DOUBLE) AS e FROM ic_panel GROUP BY category") \
        .toArrow().to_pandas().set_index("category")["e"]
    act = spark.sql(f"""WITH u AS (SELECT user_id, CAST(sum({n}) AS DOUBLE) AS e FROM ic_panel GROUP BY user_id),
                          up AS (SELECT CAST(sum({n}) AS DOUBLE) AS e FROM ic_panel GROUP BY user_id, period)
                        SELECT (SELECT count(*) FROM u), (SELECT avg(e) FROM u), (SELECT percentile(e, 0.5) FROM u),
                               (SELECT percentile(e, 0.9) FROM u), (SELECT avg(e) FROM up)""").collect()[0]
    activity = {"users": float(act[0]), "events_per_user_mean": float(act[1]),
                "events_per_user_median": float(act[2]), "events_per_user_p90": float(act[3]),
                "events_per_active_period": float(act[4])}
    mix_share = totals / max(float(totals.sum()), 1.0)
    return scoring.drift_table(profile, mix_share, per_cat, activity, unseen_events)


def score(model_dir: str | Path, path: str | Path, h: int | None = None, k: int = 5, *, fmt: str = "auto",
          mapping: ColumnMapping | None = None, year: int = 2013, master: str | None = None,
          cold_start_weight: float = scoring.COLD_START_WEIGHT) -> scoring.ScoringResult:
    """``scoring.score`` on Spark: the same checks, panel, forecasts and scores."""
    from interest_core.engines import spark_ingest
    from interest_core.engines.spark_session import spark_session

    model_dir = str(Path(model_dir).resolve())
    saved, profile, spec, horizon = scoring.resolve(model_dir, h)
    spark = spark_session(master)
    with tempfile.TemporaryDirectory(prefix="ic-spark-score-") as tmp, Store(Path(tmp) / "score.duckdb") as store:
        result = spark_ingest.ingest(store, path, name="scoring", fmt=fmt, mapping=mapping, year=year,
                                     warehouse=Path(tmp) / "warehouse")
        source = events_source(store, result.name)  # small driver-side queries, through DuckDB on the Parquet
        cmap, unseen = scoring._known_category_map(source, profile)
        first, last = period_bounds(source, spec.freq)
        data_end = pd.Timestamp(source.query("SELECT max(ts) AS t FROM {events}")["t"].iloc[0])
        cutoff = series.last_complete_period(last, data_end, spec.freq)
        if cutoff < first:
            raise ModelError("the file has no complete period to score from",
                             f"give a file covering at least one whole {spec.freq} period")
        register_events(spark, store, result.name, Path(tmp))
        spark.createDataFrame(cmap).createOrReplaceTempView("ic_groups")
        panel = panel_frame(spark, spec, grouped=True)
        panel.createOrReplaceTempView("ic_panel")
        forecasts = forecast_groups(panel, model_dir, spec.freq, horizon, first, cutoff,
                                    grouping=grouping_for(saved)).toArrow().to_pandas()
        unseen_events = float(unseen["events"].sum())
        drift = _drift(spark, profile, unseen_events) if profile else pd.DataFrame(columns=list(scoring.DRIFT_COLUMNS))
    forecasts = forecasts.sort_values(["unique_id", "period"], kind="stable").reset_index(drop=True)
    scores = scoring._pair_scores(forecasts, profile, cold_start_weight)
    counts = {
        "events": int(result.summary["rows"]), "rows_rejected": int(sum(result.report.rejected.values())),
        "users": int(scores["user_id"].nunique()), "pairs": len(scores),
        "users_cold_start": int(scores.loc[scores["cold_start"], "user_id"].nunique()),
        "categories": len(cmap), "categories_unseen": len(unseen), "events_unseen_categories": int(unseen_events),
        "horizon": horizon,
    }
    return scoring.ScoringResult(scores, scoring.top_k_per_user(scores, k), forecasts, counts, drift)

