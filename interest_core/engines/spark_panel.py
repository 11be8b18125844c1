"""The interest panel on Spark: ``panel.panel_sql`` (the one definition) spelled for Spark.

Events come from the dataset's Parquet folder when Spark built it, or from a Parquet export of
its DuckDB table otherwise. The panel stays in Spark and is written as Parquet; a ``.csv`` or
``.parquet`` output file is assembled from those parts by DuckDB (Parquet hand-over, no pandas).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interest_core.config import PanelSpec
from interest_core.engines.dialect import SPARK
from interest_core.export import FORMULA_PREFIXES
from interest_core.ingest.formats import BEHAVIORS
from interest_core.ingest.sources import sql_str
from interest_core.panel import _weight_sql, panel_sql
from interest_core.store import Store

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

PANEL_ORDER = "user_id, category, period"


def dataset_location(store: Store, name: str) -> str | None:
    """The Parquet folder of a Spark-built dataset (None for a dataset stored in DuckDB)."""
    frame = store.query("SELECT options FROM datasets WHERE name = ?", [name])
    if frame.empty:
        store.table(name)  # raises the named DatasetNotFoundError
    location = json.loads(frame["options"].iloc[0]).get("location")
    return str(location) if location else None


def register_events(spark: SparkSession, store: Store, name: str, workdir: Path, view: str = "ic_events") -> None:
    """Make the dataset's events the Spark view ``view`` (DuckDB tables cross as a Parquet export)."""
    location = dataset_location(store, name)
    if location is None:
        export = workdir / "events.parquet"
        store.query(f"COPY (SELECT * FROM {store.table(name)}) TO {sql_str(str(export))} (FORMAT parquet)")
        location = str(export)
    spark.read.parquet(location).select("user_id", "item_id", "category", "behavior", "ts", "value") \
        .createOrReplaceTempView(view)


def topk_groups(spark: SparkSession, spec: PanelSpec, k: int, view: str = "ic_events") -> None:
    """Top-K categories plus 'other' as the Spark view ``ic_groups`` (one row per category)."""
    from interest_core.grouping import topk_map

    totals = spark.sql(f"SELECT category, sum({_weight_sql(spec.weights)}) AS interest FROM {view} "
                       "GROUP BY category").toArrow().to_pandas()
    spark.createDataFrame(topk_map(totals, k)).createOrReplaceTempView("ic_groups")


def panel_frame(spark: SparkSession, spec: PanelSpec, *, grouped: bool = False, view: str = "ic_events"
                ) -> DataFrame:
    """The panel as a Spark DataFrame, with the columns and types of ``panel.build_panel``."""
    counts = ", ".join(f"n_{b}" for b in BEHAVIORS)
    return spark.sql(f"""SELECT user_id, category, period, interest, {counts}, coalesce(share, 0.0) AS share
                         FROM ({panel_sql(spec, view, grouped=grouped, dialect=SPARK)}) p""")


def _formula_safe(column: str) -> str:
    """export.escape_cell in SQL: ids and names from the file never open as spreadsheet formulas."""
    if column not in ("user_id", "category"):
        return column
    prefixes = ", ".join(sql_str(p) for p in FORMULA_PREFIXES)
    quote = sql_str("'")
    return f"CASE WHEN left({column}, 1) IN ({prefixes}) THEN {quote} || {column} ELSE {column} END AS {column}"


def write_panel(store: Store, name: str, spec: PanelSpec, out: str | Path, *, top_k: int = 0,
                master: str | None = None) -> dict[str, Any]:
    """Build the panel of a dataset on Spark and write it: a .csv/.parquet file, or else a Parquet folder."""
    from interest_core.engines.spark_session import spark_session

    spark = spark_session(master)
    out_text = str(out)
    single_file = out_text.endswith((".csv", ".parquet"))
    with tempfile.TemporaryDirectory(prefix="ic-spark-panel-") as tmp:
        register_events(spark, store, name, Path(tmp))
        if top_k:
            topk_groups(spark, spec, top_k)
        panel = panel_frame(spark, spec, grouped=bool(top_k))
        parts = str(Path(tmp) / "panel") if single_file else out_text
        panel.write.mode("overwrite").parquet(parts)
        stats = spark.read.parquet(parts).selectExpr(
            "count(*)", "count(DISTINCT user_id)", "count(DISTINCT category)", "count(DISTINCT period)").collect()[0]
        if single_file:
            path = Path(out_text)
            path.parent.mkdir(parents=True, exist_ok=True)
            csv = path.suffix == ".csv"
            columns = ", ".join(_formula_safe(c) if csv else c for c in panel.columns)
            fmt = "csv, header true" if csv else "parquet"
            store.query(f"COPY (SELECT {columns} FROM read_parquet({sql_str(parts + '/*.parquet')}) "
                        f"ORDER BY {PANEL_ORDER}) TO {sql_str(str(path))} (FORMAT {fmt})")
    return {"out": out_text, "rows": int(stats[0]), "users": int(stats[1]), "categories": int(stats[2]),
            "periods": int(stats[3]), "freq": spec.freq, "engine": "spark"}
