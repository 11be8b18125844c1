"""Batch scoring on Spark: a saved model applied to groups of series inside the executors.

The file is ingested on Spark (``spark_ingest``), its panel built on Spark (``spark_panel``),
and the saved model folder is loaded, hash-checked, by each Python worker and applied with
``applyInPandas``. How series are grouped follows what a forecast depends on, so the scores are
the ones DuckDB gives:

- ARIMA fits one model per series from that series alone, so each series is its own group;
- the naive baselines and the LSTM run on groups of whole users (a hash bucket of user_id), since
  a user's own channels (total, breadth) span that user's series. What spans the whole file is
  computed in Spark first and handed to every group (``scoring_parts.FileContext``): the
  baselines' p_engage calibration (each group's held-out sample gathered, one logistic fit on
  the driver; ARIMA's fallback baseline gets it too) and the LSTM's category channels (engaged
  users and total per category and period, one small SQL aggregate).

Only the forecasts (pairs x h rows) and the calibration sample come back to the driver, through
Arrow; the events and the panel stay in Spark, and the drift table is built from Spark aggregates.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from interest_core.config import IngestOptions
from interest_core.engines.spark_panel import panel_frame, register_events
from interest_core.errors import ModelError
from interest_core.forecasting import scoring, scoring_parts, series
from interest_core.forecasting.forecasters.base import FORECAST_COLUMNS, Forecaster
from interest_core.forecasting.forecasters.registry import registry_name
from interest_core.forecasting.forecasters.windows import CONTEXT_COLUMNS
from interest_core.ingest.formats import BEHAVIORS, ColumnMapping
from interest_core.panel import events_source, period_bounds
from interest_core.store import Store

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

PER_SERIES_MODELS = ("arima",)  # fitted per series from that series alone: one group per series
PAIRS_PER_GROUP = 20_000  # (user, category) series per user group: its dense frame is this x periods rows
Grouping = Literal["series", "users"]
FORECAST_SCHEMA = "unique_id string, period timestamp_ntz, model string, yhat double, p_engage double"
SAMPLE_SCHEMA = "score double, engaged boolean"
_LOADED: dict[str, Any] = {}  # model folder -> loaded model, once per Python worker


def _load(model_dir: str) -> Any:
    from interest_core.forecasting.persist import load_model

    if model_dir not in _LOADED:
        _LOADED[model_dir] = load_model(model_dir)  # checks every file's size and sha256 first
    return _LOADED[model_dir]


def grouping_for(saved: Any) -> Grouping:
    return "series" if registry_name(saved.model) in PER_SERIES_MODELS else "users"


def _user_groups(active: DataFrame) -> DataFrame:
    """``active`` with ``_group``: a hash bucket of user_id, enough buckets for PAIRS_PER_GROUP series each."""
    from pyspark.sql import functions as F

    pairs = active.select("user_id", "category").distinct().count()
    n = max(active.sparkSession.sparkContext.defaultParallelism, math.ceil(pairs / PAIRS_PER_GROUP), 1)
    return active.withColumn("_group", F.pmod(F.xxhash64("user_id"), F.lit(n)))


def _category_context(active: DataFrame) -> pd.DataFrame:
    """scoring_parts.category_context from the panel in Spark: engaged series and total per category and period."""
    from pyspark.sql import functions as F

    pairs = active.groupBy("user_id", "category", "period").agg(F.sum("interest").alias("y"))
    users, total = CONTEXT_COLUMNS
    context = pairs.groupBy("category", "period").agg(
        F.sum(F.when(F.col("y") > 0, 1.0).otherwise(0.0)).alias(users),
        F.sum(F.greatest(F.col("y"), F.lit(0.0))).alias(total))
    return context.toArrow().to_pandas()


def forecast_groups(panel: DataFrame, model: Forecaster, model_dir: str, freq: str, horizon: int,
                    first: pd.Timestamp, cutoff: pd.Timestamp, *, grouping: Grouping, workdir: Path) -> DataFrame:
    """Forecasts of every series in ``panel`` (FORECAST_COLUMNS), computed in the executors.

    ``model`` is the driver's copy of the one in ``model_dir`` (each worker loads its own). The
    scored periods of the panel are written once under ``workdir`` as Parquet: the group count,
    the file context and the forecasts all read them (the panel is not rebuilt for each).
    """
    from pyspark.sql import functions as F

    def frame_of(group: pd.DataFrame) -> pd.DataFrame:
        # period arrives as datetime64; series.training_frame builds the same dense frame as on DuckDB,
        # on the same grid (from the file's first period, not the group's).
        return series.training_frame(group, "engagement", freq, start=first, end=cutoff)

    def sample(group: pd.DataFrame) -> pd.DataFrame:
        frame = frame_of(group.drop(columns="_group"))
        return scoring_parts.calibration_sample(_load(model_dir).model, frame, freq)

    active = panel.where(F.col("period") <= F.lit(cutoff.to_pydatetime()).cast("timestamp_ntz"))
    active = active.where(F.col("period") >= F.lit(first.to_pydatetime()).cast("timestamp_ntz"))
    active.write.mode("overwrite").parquet(str(workdir / "scored-panel"))
    active = active.sparkSession.read.parquet(str(workdir / "scored-panel"))
    keyed = _user_groups(active) if grouping == "users" else active.withColumn(
        "_group", F.concat_ws("\x1f", "user_id", "category"))
    context = scoring_parts.FileContext()
    if scoring_parts.reads_category_context(model):
        context = scoring_parts.FileContext(category_context=_category_context(active))
    elif scoring_parts.calibrates_over_file(model):
        gathered = keyed.groupBy("_group").applyInPandas(sample, SAMPLE_SCHEMA).toArrow().to_pandas()
        context = scoring_parts.FileContext(engage_calibration=scoring_parts.calibration(gathered))

    def apply(group: pd.DataFrame) -> pd.DataFrame:
        frame = frame_of(group.drop(columns="_group"))
        if frame.empty:
            return pd.DataFrame(columns=list(FORECAST_COLUMNS))
        out = scoring_parts.forecast_part(_load(model_dir).model, frame, freq, horizon, context)
        return out[list(FORECAST_COLUMNS)].astype({"yhat": float, "p_engage": float})

    return keyed.groupBy("_group").applyInPandas(apply, FORECAST_SCHEMA)


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
          mapping: ColumnMapping | None = None, year: int = 2013, options: IngestOptions | None = None,
          master: str | None = None, cold_start_weight: float = scoring.COLD_START_WEIGHT) -> scoring.ScoringResult:
    """``scoring.score`` on Spark: the same checks, panel, forecasts and scores."""
    from interest_core.engines import spark_ingest
    from interest_core.engines.spark_session import spark_session

    model_dir = str(Path(model_dir).resolve())
    saved, profile, spec, horizon = scoring.resolve(model_dir, h)
    spark = spark_session(master)
    with tempfile.TemporaryDirectory(prefix="ic-spark-score-") as tmp, Store(Path(tmp) / "score.duckdb") as store:
        result = spark_ingest.ingest(store, path, name="scoring", fmt=fmt, mapping=mapping, year=year,
                                     options=options, warehouse=Path(tmp) / "warehouse")
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
        forecasts = forecast_groups(panel, saved.model, model_dir, spec.freq, horizon, first, cutoff,
                                    grouping=grouping_for(saved), workdir=Path(tmp)).toArrow().to_pandas()
        unseen_events = float(unseen["events"].sum())
        drift = _drift(spark, profile, unseen_events) if profile else pd.DataFrame(columns=list(scoring.DRIFT_COLUMNS))
    return scoring.result_of(result, forecasts, profile, drift, cmap, unseen, horizon=horizon, k=k,
                             cold_start_weight=cold_start_weight)
