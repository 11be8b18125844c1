"""Validation and cleaning as one SQL query: canonical columns plus a reject reason per row.

The query is built from a ColumnMapping and runs over the source relation, so the rules are
applied inside the engine, in one streaming pass, for files of any size. It is written once
and spelled for DuckDB or Spark by a :class:`~interest_core.engines.dialect.Dialect`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from interest_core.config import IngestOptions
from interest_core.engines.dialect import DUCKDB, Dialect
from interest_core.errors import MissingColumnsError
from interest_core.ingest.formats import IGNORE, ColumnMapping

# A time text that carries its own zone: ...HH:MM[:SS[.fff]] then Z, +08:00, UTC, Asia/Shanghai...
_ZONED = r"\d:\d\d(:\d\d(\.\d+)?)?\s*(Z|[+-]\d\d(:?\d\d)?|[A-Za-z][A-Za-z_/+-]*)$"


def check_columns(mapping: ColumnMapping, columns: tuple[str, ...]) -> None:
    missing = [c for c in mapping.source_columns() if c not in columns]
    if missing:
        raise MissingColumnsError(
            f"column(s) {missing} not found in the file (it has {list(columns)[:20]})",
            "pick the right --format, or map them with --map user_id=COL --map category=COL --map ts=COL "
            "(or in the upload page's mapping form)",
        )


def _text(col: str | None, d: Dialect) -> str:
    if col is None:
        return "CAST(NULL AS STRING)" if d.spark else "NULL::VARCHAR"
    return f"nullif(trim({d.ident(col)}), '')"


def _epoch_expr(x: str, unit: str, d: Dialect) -> str:
    """Epoch number -> TIMESTAMP. 'auto' picks s / ms / us per row by magnitude.

    Every value stays inside the query: NaN is NULL (unparseable); a number too large for a
    timestamp is beyond any range, so it is rejected as out of range instead of failing the cast.
    """
    if unit == "auto":
        return (
            f"CASE WHEN abs({x}) >= 1e14 THEN {_scaled(x, '1', d)} "
            f"WHEN abs({x}) >= 1e11 THEN {_scaled(x, '1e3', d)} ELSE {_scaled(x, '1e6', d)} END"
        )
    return _scaled(x, "1e6" if unit == "s" else "1e3", d)


def _scaled(x: str, to_micros: str, d: Dialect) -> str:
    us = f"({x} * {to_micros})"
    return (
        f"CASE WHEN {x} IS NULL OR isnan({x}) THEN NULL "
        f"WHEN abs({us}) < 1e17 THEN {d.micros_to_timestamp(f'CAST({us} AS BIGINT)')} "
        f"WHEN {x} > 0 THEN {d.beyond(True)} ELSE {d.beyond(False)} END"
    )


def _text_time_expr(t: str, mapping: ColumnMapping, d: Dialect) -> str:
    text = f"({d.string(mapping.ts_prefix)} || {t})" if mapping.ts_prefix else t
    naive = d.strptime(text, mapping.ts_format) if mapping.ts_format else d.parse_naive(text)
    if mapping.timezone.upper() != "UTC":
        naive = d.local_to_utc(naive, mapping.timezone)
    if mapping.ts_format:
        return naive
    return f"CASE WHEN {d.regex_like(text, _ZONED)} THEN {d.parse_zoned_to_utc(text)} ELSE {naive} END"


def time_expr(t: str, mapping: ColumnMapping, d: Dialect = DUCKDB) -> str:
    num = f"try_cast({t} AS DOUBLE)"
    if mapping.ts_unit == "text":
        return _text_time_expr(t, mapping, d)
    if mapping.ts_unit in ("s", "ms"):
        return _epoch_expr(num, mapping.ts_unit, d)
    return (f"CASE WHEN {num} IS NOT NULL THEN {_epoch_expr(num, 'auto', d)} "
            f"ELSE {_text_time_expr(t, mapping, d)} END")


def behavior_expr(b: str, mapping: ColumnMapping, d: Dialect = DUCKDB) -> str:
    if mapping.behavior is None:
        return d.string(mapping.constant_behavior or "view")
    codes = mapping.codes()
    if not codes:  # codes are already canonical behaviour names (any case)
        from interest_core.ingest.formats import BEHAVIORS

        codes = {name: name for name in BEHAVIORS}
        b = f"lower({b})"
    whens = " ".join(f"WHEN {d.string(code)} THEN {d.string(target)}" for code, target in codes.items())
    return f"CASE {b} {whens} END"


def classified_sql(source_sql: str, mapping: ColumnMapping, options: IngestOptions, now: datetime | None = None,
                   dialect: Dialect = DUCKDB, malformed_col: str | None = None) -> str:
    """SELECT of canonical columns, raw texts and a reject reason (NULL = clean row).

    ``malformed_col``: a source column holding the raw line of a row the reader could not split
    (Spark's corrupt-record column); such rows get 'malformed_row' and keep the line in raw_ts.
    DuckDB's reader sets those rows aside itself (its reject table), so it passes none.
    """
    d = dialect
    malformed = f"{d.ident(malformed_col)}" if malformed_col else "CAST(NULL AS STRING)"
    malformed_when = "WHEN malformed_line IS NOT NULL THEN 'malformed_row'" if malformed_col else ""
    now = now or datetime.now(UTC)
    lo = d.timestamp(f"{options.min_year:04d}-01-01 00:00:00")
    hi_dt = (now + timedelta(days=options.max_future_days)).replace(tzinfo=None)
    hi = d.timestamp(f"{hi_dt:%Y-%m-%d %H:%M:%S}")
    category = _text(mapping.category, d)
    if mapping.category_fallback:
        category = f"coalesce({category}, {_text(mapping.category_fallback, d)})"
    return f"""
WITH raw AS (
  SELECT {_text(mapping.user_id, d)} AS raw_user, {_text(mapping.item_id, d)} AS raw_item,
         {category} AS raw_category, {_text(mapping.behavior, d)} AS raw_behavior,
         {_text(mapping.ts, d)} AS raw_ts, {_text(mapping.value, d)} AS raw_value, {malformed} AS malformed_line
  FROM {source_sql}
), parsed AS (
  SELECT *, {time_expr('raw_ts', mapping, d)} AS ts, {behavior_expr('raw_behavior', mapping, d)} AS behavior,
         try_cast(raw_value AS DOUBLE) AS value
  FROM raw
), classified AS (
SELECT raw_user AS user_id, raw_item AS item_id, raw_category AS category, behavior, ts, value,
  CASE {malformed_when}
    WHEN raw_user IS NULL THEN 'missing_user'
    WHEN raw_ts IS NULL THEN 'missing_time'
    WHEN ts IS NULL THEN 'unparseable_time'
    WHEN ts < {lo} OR ts > {hi} THEN 'time_out_of_range'
    WHEN raw_behavior IS NULL AND {d.string(str(mapping.behavior is not None))} = 'True' THEN 'missing_behavior'
    WHEN behavior IS NULL THEN 'unknown_behavior'
    WHEN behavior = '{IGNORE}' THEN 'ignored_behavior'
  END AS reason,
  raw_behavior, coalesce(substr(malformed_line, 1, 200), raw_ts) AS raw_ts, raw_value
FROM parsed
)
-- Raw texts are kept only where they explain a reject or a repair: clean rows store NULLs (free).
SELECT user_id, item_id, category, behavior, ts, value, reason,
       CASE WHEN reason IS NOT NULL THEN raw_behavior END AS raw_behavior,
       CASE WHEN reason IS NOT NULL THEN raw_ts END AS raw_ts,
       CASE WHEN reason IS NOT NULL OR value IS NULL THEN raw_value END AS raw_value
FROM classified
"""
