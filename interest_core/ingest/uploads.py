"""What the app needs around ingest: the demo dataset, uploaded files, and a mapping form's defaults.

Nothing here imports streamlit: the upload page calls these, and so can a notebook or the CLI.

- ``ensure_demo`` stores ``data/demo/events.parquet`` as dataset ``demo`` when it is missing;
- ``save_upload`` writes uploaded bytes to a content-addressed file (folder = sha256) in a private
  folder (0700), through a unique temp file; ``discard_upload`` / ``prune_uploads`` remove them;
- ``inspect_file`` sniffs a file: its columns, the detected format (or why none was), a preview;
- ``code_counts`` lists a column's values (behaviour codes) for the code-to-behaviour map;
- ``guess_mapping`` / ``guess_behavior`` prefill the mapping form;
- ``suggest_freq`` picks the period a dataset reads best at, from its time span.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from interest_core.errors import InterestCoreError, StoreError
from interest_core.ingest import pipeline
from interest_core.ingest.formats import IGNORE, ColumnMapping, detect_preset, with_header_names
from interest_core.ingest.sources import open_source, sha256_file
from interest_core.store import IngestResult, Progress, Store, default_db_path

ROOT = Path(__file__).resolve().parents[2]
DEMO_NAME = "demo"
DEMO_ENV = "INTEREST_DEMO"  # overrides the demo file's path (tests, deployments)
DEMO_MAPPING = ColumnMapping(user_id="user_id", item_id="item_id", category="category", behavior="behavior",
                             ts="ts", value="value")
PREVIEW_ROWS = 20
PREVIEW_HEAD_BYTES = 1024 * 1024  # a preview decompresses at most this much of a .gz/.zip
CODE_SAMPLE_ROWS = 200_000
CODE_HEAD_BYTES = 32 * 1024 * 1024
MAX_CODES = 40
UPLOAD_DIR_ENV = "INTEREST_UPLOAD_DIR"  # default: an 'uploads' folder beside the store
UPLOAD_MAX_AGE_S = 24 * 3600
MAX_DECOMPRESSED_ENV = "INTEREST_MAX_DECOMPRESSED_MB"
DEFAULT_MAX_DECOMPRESSED_MB = 2048


def max_decompressed_bytes() -> int:
    """The cap on what an uploaded .gz/.zip may inflate to when the app ingests it."""
    try:
        return int(float(os.environ.get(MAX_DECOMPRESSED_ENV) or DEFAULT_MAX_DECOMPRESSED_MB) * 2**20)
    except ValueError:
        return DEFAULT_MAX_DECOMPRESSED_MB * 2**20


def demo_path() -> Path:
    return Path(os.environ.get(DEMO_ENV) or ROOT / "data" / "demo" / "events.parquet")


def ensure_demo(store: Store, path: Path | None = None, progress: Progress | None = None) -> IngestResult | None:
    """Ingest the demo file as ``demo`` unless the store has it; None when it is there or the file is absent."""
    path = path or demo_path()
    if DEMO_NAME in store.names() or not path.exists():
        return None
    return pipeline.ingest(store, path, name=DEMO_NAME, fmt="generic", mapping=DEMO_MAPPING, progress=progress,
                        source_name="demo (synthetic, data/demo/events.parquet)")


# -- uploads ----------------------------------------------------------------------------------

def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def safe_filename(name: str) -> str:
    base = Path(name or "upload").name
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", base).strip("._") or "upload"
    return cleaned[:120]


def upload_root() -> Path:
    """Where uploads wait for ingest: $INTEREST_UPLOAD_DIR, else 'uploads' beside the store."""
    return Path(os.environ.get(UPLOAD_DIR_ENV) or default_db_path().parent / "uploads")


def _private_folder(root: Path) -> Path:
    """``root`` as a folder only this user can enter (0700), refused when someone else owns it."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = root.stat()
    if info.st_uid != os.getuid():
        raise StoreError("the upload folder belongs to another user", "set INTEREST_UPLOAD_DIR to a private folder")
    if info.st_mode & 0o077:
        root.chmod(0o700)
    return root


def save_upload(data: bytes, filename: str, root: Path | None = None) -> Path:
    """Write bytes to ``root/<sha256>/<filename>`` (same bytes, same file) and return its path.

    Each call writes through its own temp file, so two sessions uploading the same bytes never
    share a partial file; an existing file is reused only when its own sha256 matches.
    """
    root = _private_folder(root or upload_root())
    prune_uploads(root)
    sha = sha256_bytes(data)
    folder = root / sha
    path = folder / safe_filename(filename)
    if path.is_file() and path.stat().st_size == len(data) and sha256_file(path) == sha:
        os.utime(path)  # in use: not pruned for another day
        return path
    for attempt in range(3):  # another session's prune may remove the empty folder in between
        folder.mkdir(mode=0o700, exist_ok=True)
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part-")
            break
        except FileNotFoundError:
            if attempt == 2:
                raise
    try:
        with open(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def discard_upload(path: Path) -> None:
    """Remove an upload once it is ingested (its folder too, when empty)."""
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty: another file of the same bytes is there
        path.parent.rmdir()


def prune_uploads(root: Path, max_age_s: float = UPLOAD_MAX_AGE_S) -> int:
    """Remove uploads (and stale partial files) older than ``max_age_s``; returns how many."""
    cutoff = time.time() - max_age_s
    removed = 0
    for folder in root.iterdir() if root.is_dir() else ():
        if not folder.is_dir() or folder.is_symlink():
            continue
        for file in folder.iterdir():
            try:
                if file.lstat().st_mtime < cutoff:
                    file.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # another session pruned it first
        with contextlib.suppress(OSError):  # not empty
            folder.rmdir()
    return removed


def dataset_name_for(filename: str) -> str:
    """A valid dataset name from a file name: taobao_head.csv.gz -> taobao_head."""
    stem = Path(filename or "upload").name
    for suffix in (".gz", ".zip", ".csv", ".tsv", ".txt", ".parquet"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._-")
    return (stem or "upload")[:64]


@dataclass(frozen=True)
class Inspection:
    """A sniffed file: enough to show a preview and build a mapping form."""

    columns: tuple[str, ...]
    kind: str
    has_header: bool
    size_bytes: int
    sha256: str
    preview: pd.DataFrame
    detected: str | None = None  # preset name, None when no format was recognised
    detect_problem: str | None = None
    detect_fix: str | None = None
    preset_mapping: ColumnMapping | None = field(default=None, repr=False)


def inspect_file(path: Path, rows: int = PREVIEW_ROWS) -> Inspection:
    """Columns, detected format and the first rows of a file (raises the named read errors)."""
    source = open_source(path, head_bytes=PREVIEW_HEAD_BYTES)  # never inflates a whole .gz/.zip
    try:
        detected = problem = fix = None
        mapping = None
        try:
            preset = detect_preset(list(source.columns), list(source.first_row) if source.first_row else None)
            detected = preset.name
            if source.has_header:
                mapping = with_header_names(preset, list(source.columns)).mapping
        except InterestCoreError as exc:
            problem, fix = exc.problem, exc.fix
        preview = _query(f"SELECT * FROM {source.relation_sql()} LIMIT {int(rows)}")
        return Inspection(columns=source.columns, kind=source.kind, has_header=source.has_header,
                          size_bytes=source.size_bytes, sha256=source.sha256, preview=preview, detected=detected,
                          detect_problem=problem, detect_fix=fix, preset_mapping=mapping)
    finally:
        source.cleanup()


def code_counts(path: Path, column: str, sample_rows: int = CODE_SAMPLE_ROWS) -> pd.DataFrame:
    """value, rows: the most frequent values of one column among the first ``sample_rows`` rows."""
    source = open_source(path, head_bytes=CODE_HEAD_BYTES)
    try:
        if column not in source.columns:
            return pd.DataFrame({"value": pd.Series(dtype="string"), "rows": pd.Series(dtype="int64")})
        col = '"' + column.replace('"', '""') + '"'
        return _query(
            f"""SELECT trim({col}) AS value, count(*) AS rows
                FROM (SELECT {col} FROM {source.relation_sql()} LIMIT {int(sample_rows)})
                WHERE nullif(trim({col}), '') IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {MAX_CODES}"""
        )
    finally:
        source.cleanup()


def _query(sql: str) -> pd.DataFrame:
    con = duckdb.connect()
    try:
        return con.execute(sql).df()
    except duckdb.Error as exc:
        from interest_core.errors import UnreadableFileError

        raise UnreadableFileError(f"the file could not be read ({str(exc).splitlines()[0][:200]})",
                                  "check the delimiter, quoting and format of the file") from None
    finally:
        con.close()


# -- mapping form defaults ---------------------------------------------------------------------

_NAME_HINTS: dict[str, tuple[str, ...]] = {
    "user_id": ("user_id", "userid", "visitorid", "visitor_id", "user", "customer_id", "customerid", "uid",
                "client_id"),
    "item_id": ("item_id", "itemid", "product_id", "productid", "item", "product", "sku", "article_id"),
    "category": ("category", "category_id", "categoryid", "category_code", "cat", "brand_id", "brand", "genre",
                 "department"),
    "behavior": ("behavior", "behaviour", "behavior_type", "event_type", "event", "type", "action", "act"),
    "ts": ("ts", "timestamp", "event_time", "time", "datetime", "date", "visit_datetime", "created_at", "when"),
    "value": ("value", "price", "amount", "rating", "revenue"),
}


def guess_mapping(columns: tuple[str, ...] | list[str]) -> dict[str, str | None]:
    """Canonical column -> the file column whose name looks like it (None when nothing does)."""
    lowered = {c.strip().lower(): c for c in columns}
    taken: set[str] = set()
    out: dict[str, str | None] = {}
    for canon, hints in _NAME_HINTS.items():
        out[canon] = next((lowered[h] for h in hints if h in lowered and lowered[h] not in taken), None)
        if out[canon] is not None:
            taken.add(str(out[canon]))
    return out


_BEHAVIOR_HINTS: dict[str, tuple[str, ...]] = {
    "view": ("view", "pv", "click", "detail", "page_view", "pageview", "visit", "impression"),
    "fav": ("fav", "favorite", "favourite", "like", "wishlist", "save", "collect"),
    "cart": ("cart", "addtocart", "add_to_cart", "add-to-cart", "basket"),
    "buy": ("buy", "purchase", "transaction", "order", "checkout", "sale"),
    "rate": ("rate", "rating", "review"),
    IGNORE: ("remove_from_cart", "removefromcart", "remove"),
}


def guess_behavior(code: str) -> str:
    """A source behaviour code -> canonical behaviour, or 'ignore' when the name says nothing."""
    key = str(code).strip().lower()
    for target, hints in _BEHAVIOR_HINTS.items():
        if key in hints:
            return target
    return IGNORE


def suggest_freq(start: object, end: object) -> str:
    """The period that gives a readable number of points (about 10 to 120) over a span."""
    try:
        days = (pd.Timestamp(str(end)) - pd.Timestamp(str(start))).total_seconds() / 86_400
    except (ValueError, TypeError):
        return "W"
    if days <= 4:
        return "h"
    if days <= 120:
        return "D"
    if days <= 3 * 365:
        return "W"
    return "M"
