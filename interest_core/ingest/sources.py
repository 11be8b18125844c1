"""Reading raw files: sniffing, decompression, transcoding, and the DuckDB source relation.

Nothing here loads a whole file into Python: sniffing reads a small sample, and the rows are
read by DuckDB's CSV/Parquet readers, so a file larger than memory streams through.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import itertools
import shutil
import tempfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from interest_core.errors import (
    EmptyFileError,
    FileEncodingError,
    MissingColumnsError,
    UnreadableFileError,
)
from interest_core.ingest.archives import (
    check_gzip_size,
    literal_path,
    remove_temps,
    unzip_single,
    write_head,
)

SAMPLE_BYTES = 256 * 1024
MAX_LINE_BYTES = 8 * 1024 * 1024  # a longer line is a malformed row, not a crash
DELIMITERS = ",;\t|"
# A field (or an unclosed quote) may run to the end of the sample: let the sniffer's csv parser
# take a whole sample as one field rather than fail (raising the process-wide limit is harmless).
csv.field_size_limit(max(csv.field_size_limit(), 4 * SAMPLE_BYTES))


@dataclass(frozen=True)
class SourceFile:
    """A file ready for DuckDB: where to read it, how, and its content hash."""

    original: Path
    read_path: Path
    kind: Literal["csv", "parquet"]
    sha256: str
    size_bytes: int
    columns: tuple[str, ...]
    has_header: bool = True
    delimiter: str = ","
    compression: Literal["gzip", "none"] = "none"
    first_row: tuple[str, ...] | None = None
    temp_files: tuple[Path, ...] = field(default=())

    def cleanup(self) -> None:
        remove_temps(list(self.temp_files))

    def relation_sql(self) -> str:
        """A DuckDB table expression yielding every column as VARCHAR under its header name."""
        path = sql_str(str(self.read_path))
        if self.kind == "parquet":
            return f"(SELECT COLUMNS(*)::VARCHAR FROM read_parquet({path}))"
        columns = ", ".join(f"{sql_str(c)}: 'VARCHAR'" for c in self.columns)
        return (
            f"read_csv({path}, header={str(self.has_header).lower()}, "
            f"delim={sql_str(self.delimiter)}, quote='\"', escape='\"', columns={{{columns}}}, "
            f"compression={sql_str(self.compression)}, max_line_size={MAX_LINE_BYTES}, "
            "store_rejects=true, rejects_table='ic_reject_errors', rejects_scan='ic_reject_scans', "
            "auto_detect=false, null_padding=false, strict_mode=true)"
        )


def sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sha256_file(path: Path, chunk: int = 4 * 1024 * 1024) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def open_source(path: str | Path, *, encoding: str | None = None, workdir: Path | None = None,
                max_decompressed_bytes: int | None = None, head_bytes: int | None = None) -> SourceFile:
    """Inspect a file and prepare it for DuckDB (unzip or transcode to a temp file if needed).

    ``max_decompressed_bytes``: a .gz/.zip that inflates past it is refused (DecompressedTooLargeError)
    before anything is stored. ``head_bytes``: only the first that many decompressed bytes (whole
    lines) are read, never the rest of the member: for previews, so a zip bomb costs nothing.
    """
    original = Path(path)
    if not original.exists():
        raise UnreadableFileError(f"file {str(original)!r} does not exist", "check the path")
    if original.is_dir():
        raise UnreadableFileError(f"{str(original)!r} is a folder, not a file", "pass one events file")
    size = original.stat().st_size
    if size == 0:
        raise EmptyFileError(f"file {original.name!r} is empty (0 bytes)", "export the log again with its rows")
    sha = sha256_file(original)
    with original.open("rb") as fh:
        magic = fh.read(4)
    temps: list[Path] = []
    if magic == b"PAR1":
        return _parquet_source(original, literal_path(original, temps), sha, size, temps)

    read_path, compression = literal_path(original, temps), "none"
    if magic[:2] == b"\x1f\x8b":
        compression = "gzip"
        if head_bytes is not None:
            with gzip.open(original, "rb") as member:
                read_path = write_head(member, head_bytes, workdir, original.name)
            temps.append(read_path)
            compression = "none"
        elif max_decompressed_bytes is not None:
            check_gzip_size(original, max_decompressed_bytes)
    elif magic == b"PK\x03\x04":
        read_path = unzip_single(original, workdir, max_decompressed_bytes, head_bytes)
        temps.append(read_path)
    sample = _read_sample(read_path, compression)
    if not sample.strip():
        remove_temps(temps)
        raise EmptyFileError(f"file {original.name!r} has no content", "export the log again with its rows")
    enc = (encoding or "utf-8").lower().replace("_", "-")
    utf8 = enc in ("utf-8", "utf8", "utf-8-sig")
    # With an explicit other encoding (utf-16 has NUL bytes) the transcoder judges the bytes.
    if utf8 and b"\x00" in sample and not _looks_utf16(sample):
        remove_temps(temps)
        raise UnreadableFileError(
            f"file {original.name!r} looks binary, not CSV or Parquet",
            "upload a CSV (optionally .gz/.zip) or a Parquet file",
        )
    if not utf8:
        read_path = _transcode(read_path, compression, enc, workdir)
        temps.append(read_path)
        compression = "none"
        sample = _read_sample(read_path, compression)
    text = _decode_sample(sample, original.name)
    try:
        dialect = _sniff(text, original.name, complete=len(sample) < SAMPLE_BYTES)
    except Exception:
        remove_temps(temps)
        raise
    return SourceFile(
        original=original, read_path=read_path, kind="csv", sha256=sha, size_bytes=size,
        columns=dialect[0], has_header=dialect[1], delimiter=dialect[2],
        compression=compression,  # type: ignore[arg-type]
        first_row=dialect[3], temp_files=tuple(temps),
    )


def _parquet_source(path: Path, read_path: Path, sha: str, size: int, temps: list[Path]) -> SourceFile:
    import duckdb

    try:
        con = duckdb.connect()
        names = [d[0] for d in
                 con.execute(f"SELECT * FROM read_parquet({sql_str(str(read_path))}) LIMIT 0").description]
        con.close()
    except duckdb.Error as exc:
        remove_temps(temps)
        raise UnreadableFileError(f"Parquet file {path.name!r} could not be read ({exc})", "check the file") from None
    return SourceFile(original=path, read_path=read_path, kind="parquet", sha256=sha, size_bytes=size,
                      columns=tuple(names), temp_files=tuple(temps))


def _read_sample(path: Path, compression: str) -> bytes:
    try:
        if compression == "gzip":
            with gzip.open(path, "rb") as fh:
                return fh.read(SAMPLE_BYTES)
        with path.open("rb") as fh:
            return fh.read(SAMPLE_BYTES)
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableFileError(f"{path.name!r} could not be decompressed ({exc})", "check the file") from None


def _looks_utf16(sample: bytes) -> bool:
    if sample[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return True
    # Without a BOM: ASCII-range text in UTF-16 has a NUL in every other byte.
    head = sample[:4096]
    if len(head) < 8:
        return False
    even, odd = head[0::2], head[1::2]
    return max(even.count(0) / len(even), odd.count(0) / len(odd)) > 0.9 and min(even.count(0), odd.count(0)) == 0


def _decode_sample(sample: bytes, name: str) -> str:
    if _looks_utf16(sample):
        raise FileEncodingError(
            f"{name!r} is UTF-16 encoded",
            "pass --encoding utf-16 (utf-16-le or utf-16-be when it has no BOM), or save it as UTF-8",
        )
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        return decoder.decode(sample, final=False)
    except UnicodeDecodeError as exc:
        raise FileEncodingError(
            f"{name!r} is not valid UTF-8 (byte {exc.start} of the sample)",
            "pass --encoding with the file's encoding (e.g. gbk, latin-1, cp1252) or save it as UTF-8",
        ) from None


def _transcode(path: Path, compression: str, encoding: str, workdir: Path | None) -> Path:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise FileEncodingError(
            f"unknown encoding {encoding!r}", "use a Python codec name such as gbk or latin-1"
        ) from None
    fd, tmp = tempfile.mkstemp(suffix=".csv", dir=workdir)
    opener = gzip.open if compression == "gzip" else open
    try:
        with opener(path, "rb") as raw, io.TextIOWrapper(raw, encoding=encoding, newline="") as src, open(
            fd, "w", encoding="utf-8", newline=""
        ) as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
    except UnicodeDecodeError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise FileEncodingError(f"file is not valid {encoding} ({exc.reason})", "check the --encoding") from None
    return Path(tmp)


KNOWN_HEADER_WORDS = {
    "user_id", "userid", "user", "item_id", "itemid", "item", "category_id", "category", "categoryid",
    "behavior_type", "behavior", "behaviour", "event", "event_type", "type", "timestamp", "time", "ts",
    "date", "datetime", "visit_datetime", "brand_id", "brand", "visitorid", "event_time", "product_id",
    "price", "user_session", "category_code", "transactionid", "rating", "value", "amount",
}


def _sniff(
    text: str, name: str, *, complete: bool = False
) -> tuple[tuple[str, ...], bool, str, tuple[str, ...] | None]:
    """Delimiter, header and column names from a text sample (``complete``: the sample is the whole file)."""
    lines = text.splitlines()
    # A cut sample may end mid-line; drop that partial last line unless it is the only one.
    body = "\n".join(lines[:-1] if len(lines) > 1 and not complete else lines)
    delimiter = _guess_delimiter(body)
    try:
        rows = [r for r in itertools.islice(csv.reader(io.StringIO(body), delimiter=delimiter), 200) if r]
    except csv.Error as exc:
        raise UnreadableFileError(f"file {name!r} could not be parsed as CSV ({exc})", "check its quoting") from None
    if not rows:
        raise EmptyFileError(f"file {name!r} has no rows", "export the log again with its rows")
    first = [c.strip() for c in rows[0]]
    width = len(first)
    if width < 2:
        raise MissingColumnsError(
            f"file {name!r} has a single column (no delimiter among {', '.join(repr(d) for d in DELIMITERS)} found)",
            "use a comma, semicolon, tab or | between fields, with at least user, category and time columns",
        )
    has_header = _looks_like_header(first, rows[1:20])
    if has_header:
        if len(set(first)) != len(first):
            raise MissingColumnsError(
                f"header of {name!r} repeats a column name: {first}", "give each column a unique name"
            )
        columns = tuple(c if c else f"column{i + 1}" for i, c in enumerate(first))
        first_row = tuple(rows[1]) if len(rows) > 1 else None
        if len(rows) == 1 and complete:
            raise EmptyFileError(f"file {name!r} has a header but no rows", "export the log again with its rows")
    else:
        columns = tuple(f"column{i + 1}" for i in range(width))
        first_row = tuple(first)
    return columns, has_header, delimiter, first_row


def _guess_delimiter(body: str) -> str:
    """The delimiter that splits the sample's rows into the most fields, consistently.

    Each candidate is scored by its most common field count (at least 2) times the number of
    rows that have it, parsing quotes as the reader will (a wrong delimiter can make a quoted
    field swallow several lines). csv.Sniffer is not used: it prefers ',' ';' or tab over '|'
    whenever text fields hold one of those in every row.
    """
    sample = body[: 64 * 1024]
    best, best_score = ",", 0.0
    for delimiter in DELIMITERS:
        try:
            widths = [len(r) for r in itertools.islice(csv.reader(io.StringIO(sample), delimiter=delimiter), 200) if r]
        except csv.Error:
            continue
        if not widths:
            continue
        width, n = Counter(widths).most_common(1)[0]
        score = float(width * n) if width >= 2 else 0.0
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _looks_like_header(first: list[str], rest: list[list[str]]) -> bool:
    if any(c.lower() in KNOWN_HEADER_WORDS for c in first):
        return True
    if not rest:
        return not any(_is_number(c) for c in first)
    # A header has text where the data rows have numbers.
    for i, cell in enumerate(first):
        column = [r[i] for r in rest if i < len(r) and r[i].strip()]
        if column and not _is_number(cell) and all(_is_number(v) for v in column):
            return True
    return False
