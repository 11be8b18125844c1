"""The few places where DuckDB's and Spark's SQL differ, as one small object per engine.

Every rule is written once as SQL; it asks its dialect for the pieces the two engines spell
differently (identifiers, string literals, timestamp construction and parsing, time zones).
Everything else used by the rules (CASE, try_cast, nullif, trim, FILTER, GROUP BY ALL,
date_trunc, window functions) is spelled the same in both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from interest_core.errors import MappingError

# strptime code -> Java DateTimeFormatter letters. Single letters parse one or two digits, as
# DuckDB's %m / %d / %H do (the Tmall log writes 6-4, not 06-04).
_JAVA_CODES = {"%Y": "yyyy", "%m": "M", "%d": "d", "%H": "H", "%M": "m", "%S": "s", "%f": "SSSSSS",
               "%y": "yy", "%b": "MMM", "%B": "MMMM", "%p": "a", "%I": "h", "%j": "D", "%z": "XX", "%%": "%"}


@dataclass(frozen=True)
class Dialect:
    name: Literal["duckdb", "spark"]

    @property
    def spark(self) -> bool:
        return self.name == "spark"

    def ident(self, name: str) -> str:
        if self.spark:
            return "`" + name.replace("`", "``") + "`"
        return '"' + name.replace('"', '""') + '"'

    def string(self, text: str) -> str:
        if self.spark:  # Spark reads backslash escapes in literals (and '' as two adjacent literals)
            return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return "'" + text.replace("'", "''") + "'"

    @property
    def timestamp_type(self) -> str:
        """A time without a zone (UTC wall clock): what the stored ``ts`` column is."""
        return "TIMESTAMP_NTZ" if self.spark else "TIMESTAMP"

    def timestamp(self, text: str) -> str:
        return f"{self.timestamp_type} {self.string(text)}"

    def micros_to_timestamp(self, micros: str) -> str:
        if self.spark:
            return f"CAST(timestamp_micros({micros}) AS TIMESTAMP_NTZ)"
        return f"make_timestamp({micros})"

    def beyond(self, positive: bool) -> str:
        """A time past any plausible range (rejected as out of range). Spark has no infinity."""
        if self.spark:
            return self.timestamp("9999-12-31 00:00:00" if positive else "0001-01-01 00:00:00")
        return "'infinity'::TIMESTAMP" if positive else "'-infinity'::TIMESTAMP"

    def strptime(self, text: str, fmt: str) -> str:
        if self.spark:
            return f"CAST(try_to_timestamp({text}, {self.string(java_pattern(fmt))}) AS TIMESTAMP_NTZ)"
        return f"try_strptime({text}, {self.string(fmt)})"

    def parse_naive(self, text: str) -> str:
        return f"try_cast({text} AS {self.timestamp_type})"

    def parse_zoned_to_utc(self, text: str) -> str:
        """A text with its own zone -> the UTC wall clock (session time zone is UTC on both)."""
        if self.spark:
            return f"CAST(try_cast({text} AS TIMESTAMP) AS TIMESTAMP_NTZ)"
        return f"timezone('UTC', try_cast({text} AS TIMESTAMPTZ))"

    def local_to_utc(self, naive: str, zone: str) -> str:
        if self.spark:
            return f"CAST(to_utc_timestamp({naive}, {self.string(zone)}) AS TIMESTAMP_NTZ)"
        return f"timezone('UTC', timezone({self.string(zone)}, {naive}))"

    def regex_like(self, text: str, pattern: str) -> str:
        fn = "regexp_like" if self.spark else "regexp_matches"
        return f"{fn}({text}, {self.string(pattern)})"

    def trunc(self, part: str, ts: str) -> str:
        if self.spark:
            return f"CAST(date_trunc({self.string(part.upper())}, {ts}) AS TIMESTAMP_NTZ)"
        return f"date_trunc({self.string(part)}, {ts})"


DUCKDB = Dialect("duckdb")
SPARK = Dialect("spark")


def java_pattern(fmt: str) -> str:
    """strptime format -> Spark's datetime pattern; literal text is quoted."""
    out: list[str] = []
    for token in re.split(r"(%.)", fmt):
        if not token:
            continue
        if token.startswith("%") and len(token) == 2:
            if token not in _JAVA_CODES:
                raise MappingError(f"time format code {token} has no Spark equivalent here",
                                   f"use {', '.join(sorted(_JAVA_CODES))} or ingest with --engine duckdb")
            out.append(_JAVA_CODES[token])
        else:
            out.append("".join(c if not c.isalpha() and c != "'" else "'" + c.replace("'", "''") + "'"
                               for c in token))
    return "".join(out)
