"""Engine back-ends of the same rules: DuckDB (embedded, the default) and Apache Spark.

The rules themselves (per-row cleaning in ``ingest.cleaning``, the repairs in ``ingest.staging``
and the aggregation in ``panel``) are SQL built through a :class:`~interest_core.engines.dialect.Dialect`,
so one definition runs on both engines; see docs/notes/spark.md for why SQL and not SQLFrame.
"""

ENGINES: tuple[str, ...] = ("duckdb", "spark")
DEFAULT_SPARK_MASTER = "local[*]"
