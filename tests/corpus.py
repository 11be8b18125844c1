"""The malformed-input corpus: files built at test time, each with the outcome it must give.

Every case is one file (plus, for RetailRocket, its side files) and the keyword arguments of
``Store.ingest``. The expected outcome is either a named error (a class of
``interest_core.errors`` and a substring of its message) or the ingest report's counts
(``rows_kept``, ``rejected`` and ``repaired`` by reason, compared exactly), optionally with the
stored values of some columns. Files are generated, not committed, so binary junk, zips,
UTF-16 and a 9 MB field stay out of git.

    cases = build_corpus(tmp_path)          # writes the files, returns the cases
    pipeline.ingest(store, case.built_path, name="x", **case.ingest_kwargs())
"""

from __future__ import annotations

import gzip
import io
import random
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from interest_core.config import IngestOptions
from interest_core.ingest.formats import ColumnMapping

# A file's content: bytes, or a function that writes the file at the given path.
Content = bytes | Callable[[Path], None]

T0 = 1511544070  # 2017-11-24 17:21:10 UTC, the first Taobao row
TB_HEADER = "user_id,item_id,category_id,behavior_type,timestamp"
TB_ROWS = [
    f"1,10,100,pv,{T0}",
    f"1,11,100,fav,{T0 + 10}",
    f"2,12,101,cart,{T0 + 20}",
    f"2,13,102,buy,{T0 + 30}",
]
TB_USERS = ["1", "1", "2", "2"]
RR_HEADER = "timestamp,visitorid,event,itemid,transactionid"
REES_HEADER = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"
UNSET_KEY_ENV = "INTEREST_CORPUS_KEY_THAT_IS_NEVER_SET"

# Generic mappings used by several cases.
GEN = ColumnMapping(user_id="uid", category="cat", ts="when", behavior="act")
GEN_VIEW = ColumnMapping(user_id="uid", category="cat", ts="when", constant_behavior="view")
CANON = ColumnMapping(user_id="user_id", item_id="item_id", category="category", behavior="behavior", ts="ts")


@dataclass(frozen=True)
class CorpusCase:
    """One corpus file and what ingesting it must give."""

    id: str
    filename: str
    content: Content = field(repr=False)
    what: str
    fmt: str = "auto"
    mapping: ColumnMapping | None = None
    options: IngestOptions | None = None
    side_files: tuple[tuple[str, bytes], ...] = ()  # e.g. RetailRocket item_properties
    # Outcome A: a named error.
    error: str | None = None  # class name in interest_core.errors
    message: str | None = None  # a substring of str(error)
    # Outcome B: the report.
    rows_kept: int | None = None
    rejected: dict[str, int] = field(default_factory=dict)
    repaired: dict[str, int] = field(default_factory=dict)
    format: str | None = None  # report.format, when the case pins it
    # Stored values: column -> sorted list of the stored values as text (None for NULL).
    stored: Mapping[str, Sequence[str | None]] = field(default_factory=dict)
    path: Path | None = None  # set by build_corpus

    def __post_init__(self) -> None:
        if (self.error is None) == (self.rows_kept is None):
            raise ValueError(f"case {self.id}: give either error or rows_kept")

    @property
    def expects_error(self) -> bool:
        return self.error is not None

    @property
    def built_path(self) -> Path:
        """``path``, which only a case returned by ``build_corpus`` has."""
        assert self.path is not None, f"case {self.id}: build the corpus first"
        return self.path

    def ingest_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"fmt": self.fmt, "mapping": self.mapping, "options": self.options}
        if self.side_files:
            kwargs["item_properties"] = [self.built_path.parent / name for name, _ in self.side_files]
        return kwargs


# -- helpers that make bytes ------------------------------------------------------------------
def _csv(header: str | None, rows: list[str], *, sep: str = ",", eol: str = "\n") -> bytes:
    lines = ([header] if header is not None else []) + rows
    return (eol.join(line.replace(",", sep) for line in lines) + eol).encode()


def _taobao(rows: list[str] | None = None, *, header: bool = True) -> bytes:
    return _csv(TB_HEADER if header else None, TB_ROWS if rows is None else rows)


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            # A fixed date keeps the archive's bytes the same from run to run.
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED if name.endswith("/") else zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def _junk(n: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(n)) + b"\x00\x01\x02"


def _big_taobao(n_rows: int) -> bytes:
    """A Taobao file longer than the sniffed sample (256 KiB), all rows distinct."""
    return _taobao([f"{u},{u},{u % 50},pv,{T0 + u}" for u in range(n_rows)])


def _parquet(frame: pd.DataFrame) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        frame.to_parquet(path, index=False)

    return write


def _huge_field(path: Path) -> None:
    """One row with a 9 MiB category, past the reader's 8 MiB line limit, between good rows."""
    with path.open("wb") as fh:
        fh.write(f"{TB_HEADER}\n{TB_ROWS[0]}\n{TB_ROWS[1]}\n".encode())
        fh.write(b"3,14," + b"x" * (9 * 1024 * 1024) + f",pv,{T0}\n".encode())
        fh.write(f"{TB_ROWS[2]}\n{TB_ROWS[3]}\n".encode())


def _big_field_ok(path: Path) -> None:
    """A 1 MiB category: long, but under the line limit, so the row is kept as it is."""
    with path.open("wb") as fh:
        fh.write(f"{TB_HEADER}\n".encode())
        fh.write(b"3,14," + b"y" * (1024 * 1024) + f",pv,{T0}\n".encode())
        fh.write(f"{TB_ROWS[0]}\n".encode())


# -- the cases --------------------------------------------------------------------------------
def corpus_cases() -> list[CorpusCase]:
    """Every case, without writing files (enough to parametrize tests by id)."""
    tb = _taobao()
    gen_header = "uid,cat,when,act"
    cases = [
        # ---- refused files: empty, junk, containers --------------------------------------------
        CorpusCase("empty", "empty.csv", b"", "0 bytes", error="EmptyFileError", message="empty (0 bytes)"),
        CorpusCase("blank_lines", "blank.csv", b"\n  \n\r\n\t\n", "only whitespace and newlines",
                   error="EmptyFileError", message="has no content"),
        CorpusCase("header_only", "header_only.csv", f"{TB_HEADER}\n".encode(), "a header and no rows",
                   error="EmptyFileError", message="header but no rows"),
        CorpusCase("header_only_no_newline", "header_only2.csv", TB_HEADER.encode(), "a header without newline",
                   error="EmptyFileError", message="header but no rows"),
        CorpusCase("header_then_blank_lines", "header_blank.csv", f"{TB_HEADER}\n\n\n".encode(),
                   "a header followed by empty lines", error="EmptyFileError", message="header but no rows"),
        CorpusCase("single_column", "one_col.csv", b"user\n1\n2\n3\n", "one column, no delimiter",
                   error="MissingColumnsError", message="single column"),
        CorpusCase("wrong_delimiter_space", "spaces.csv", _csv(TB_HEADER, TB_ROWS, sep=" "),
                   "space-separated (not one of , ; tab |)", error="MissingColumnsError", message="single column"),
        CorpusCase("wrong_delimiter_colon", "colons.csv", _csv(None, TB_ROWS, sep=":"),
                   "colon-separated, no header", error="MissingColumnsError", message="single column"),
        CorpusCase("binary_junk", "junk.csv", _junk(4096), "random bytes with NULs",
                   error="UnreadableFileError", message="looks binary"),
        CorpusCase("binary_in_gzip", "junk.csv.gz", gzip.compress(_junk(4096, seed=8), mtime=0),
                   "gzip holding random bytes", error="UnreadableFileError", message="looks binary"),
        CorpusCase("gzip_truncated", "cut.csv.gz", gzip.compress(tb, mtime=0)[:25], "gzip cut inside its sample",
                   error="UnreadableFileError", message="could not be decompressed"),
        CorpusCase("gzip_truncated_late", "cut_late.csv.gz", gzip.compress(_big_taobao(20_000), mtime=0)[:-64],
                   "gzip cut after the sniffed sample: DuckDB's reader fails",
                   error="UnreadableFileError", message="could not be read"),
        CorpusCase("zip_corrupt", "broken.zip", b"PK\x03\x04" + b"not really a zip" * 8, "zip magic, junk after",
                   error="UnreadableFileError", message="not a valid zip"),
        CorpusCase("zip_two_files", "two.zip", _zip({"a.csv": tb, "b.csv": tb}), "zip with two CSVs",
                   error="UnreadableFileError", message="holds 2 files"),
        CorpusCase("parquet_corrupt", "broken.parquet", b"PAR1" + b"\x00junk" * 20, "Parquet magic, junk after",
                   error="UnreadableFileError", message="Parquet file"),
        # ---- encodings -------------------------------------------------------------------------
        CorpusCase("latin1_no_option", "latin1.csv", _csv(TB_HEADER, [*TB_ROWS, f"3,14,café,pv,{T0}"])
                   .decode().encode("latin-1"), "latin-1 bytes, read as UTF-8",
                   error="FileEncodingError", message="not valid UTF-8"),
        CorpusCase("non_utf8_after_sample", "late_latin1.csv",
                   _big_taobao(20_000) + f"3,14,caf\u00e9,pv,{T0}\n".encode("latin-1"),
                   "valid UTF-8 for 256 KiB, then one latin-1 byte", error="FileEncodingError",
                   message="not valid UTF-8 (first at line 20002"),
        CorpusCase("utf16_bom", "utf16.csv", tb.decode().encode("utf-16"), "UTF-16 with BOM",
                   error="FileEncodingError", message="UTF-16"),
        CorpusCase("utf16le_no_bom", "utf16le.csv", tb.decode().encode("utf-16-le"), "UTF-16-LE without BOM",
                   error="FileEncodingError", message="UTF-16"),
        CorpusCase("unknown_encoding_name", "enc_name.csv", tb, "--encoding with a codec that does not exist",
                   options=IngestOptions(encoding="no-such-codec"), error="FileEncodingError",
                   message="unknown encoding"),
        CorpusCase("wrong_encoding_option", "latin1_as_ascii.csv",
                   _csv(TB_HEADER, [f"3,14,caf\u00e9,pv,{T0}"]).decode().encode("latin-1"),
                   "latin-1 file read with --encoding ascii", options=IngestOptions(encoding="ascii"),
                   error="FileEncodingError", message="not valid ascii"),
        # ---- headers, formats, mappings --------------------------------------------------------
        CorpusCase("duplicate_header_names", "dup_header.csv", b"user_id,user_id,ts\n1,2,3\n",
                   "a header naming one column twice", error="MissingColumnsError", message="repeats a column"),
        CorpusCase("unknown_header", "unknown.csv", b"foo,bar,baz\nx,1,2\n", "a header no preset knows",
                   error="UnknownFormatError", message="could not recognise the format"),
        CorpusCase("missing_columns_auto", "no_ts.csv",
                   _csv("user_id,item_id,category_id,behavior_type", [r.rsplit(",", 1)[0] for r in TB_ROWS]),
                   "Taobao without its timestamp column, format auto", error="UnknownFormatError",
                   message="could not recognise"),
        CorpusCase("missing_columns_taobao", "no_ts2.csv",
                   _csv("user_id,item_id,category_id,behavior_type", [r.rsplit(",", 1)[0] for r in TB_ROWS]),
                   "Taobao without its timestamp column, format taobao", fmt="taobao",
                   error="MissingColumnsError", message="['timestamp'] not found"),
        CorpusCase("generic_mapping_wrong_column", "gen_wrong.csv", _csv(gen_header, [f"1,a,{T0},view"]),
                   "a mapping naming a column the file lacks",
                   mapping=replace(GEN, ts="time"), error="MissingColumnsError", message="['time'] not found"),
        CorpusCase("generic_without_mapping", "gen_nomap.csv", _csv(gen_header, [f"1,a,{T0},view"]),
                   "format generic and no mapping", fmt="generic", error="MissingColumnsError",
                   message="needs a column mapping"),
        CorpusCase("unknown_timezone", "tz.csv", _csv(gen_header, ["1,a,2017-11-25 08:00:00,view"]),
                   "--timezone with a zone that does not exist", mapping=replace(GEN, timezone="Mars/Olympus"),
                   error="MappingError", message="time zone is unknown"),
        CorpusCase("invalid_time_format", "tsfmt.csv", _csv(gen_header, ["1,a,2017-11-25 08:00:00,view"]),
                   "--ts-format with a code strptime does not have",
                   mapping=replace(GEN, ts_unit="text", ts_format="%Y-%Q"),
                   error="MappingError", message="time format is invalid"),
        CorpusCase("unknown_format_name", "fmt.csv", tb, "--format with a name that is no preset", fmt="excel",
                   error="UnknownFormatError", message="unknown format 'excel'"),
        CorpusCase("retailrocket_without_properties", "rr_events.csv",
                   _csv(RR_HEADER, ["1433221332117,257597,view,355908,"]), "RetailRocket events, no item file",
                   error="MissingColumnsError", message="carry no category"),
        CorpusCase("pseudonymise_key_unset", "pseudo.csv", tb, "pseudonymisation with its key variable unset",
                   options=IngestOptions(pseudonymize_key_env=UNSET_KEY_ENV), error="IngestError",
                   message=f"{UNSET_KEY_ENV} is unset"),
        # ---- no usable rows --------------------------------------------------------------------
        CorpusCase("every_row_bad", "all_bad.csv",
                   _taobao([f"1,10,100,click,{T0}", "2,10,100,pv,yesterday", ",10,100,pv,1", "3,10,100,pv,"]),
                   "every row rejected for some reason", error="NoUsableRowsError",
                   message="0 of 4 rows kept; rejected: "),
        CorpusCase("unclosed_quote_everything", "unclosed.csv",
                   _taobao(['1,10,"100,pv,' + str(T0), *TB_ROWS[1:]]),
                   "an unclosed quote on the first row swallows the rest",
                   error="NoUsableRowsError", message="malformed_row 1"),
        CorpusCase("rees46_only_removals", "rees_removals.csv",
                   _csv(REES_HEADER, ["2019-10-01 00:00:00 UTC,remove_from_cart,5,9,,b,1.0,7,s"] * 3),
                   "REES46 with only remove_from_cart events", error="NoUsableRowsError",
                   message="ignored_behavior 3"),
        # ---- readable files: delimiters, headers, containers ----------------------------------
        CorpusCase("taobao_comma", "taobao.csv", tb, "Taobao with header", rows_kept=4, format="taobao",
                   stored={"user_id": TB_USERS, "behavior": ["buy", "cart", "fav", "view"]}),
        CorpusCase("semicolon", "semi.csv", _csv(TB_HEADER, TB_ROWS, sep=";"), "; delimiter", rows_kept=4,
                   format="taobao"),
        CorpusCase("tab", "tab.tsv", _csv(TB_HEADER, TB_ROWS, sep="\t"), "tab delimiter", rows_kept=4,
                   format="taobao"),
        CorpusCase("pipe", "pipe.txt", _csv(TB_HEADER, TB_ROWS, sep="|"), "| delimiter", rows_kept=4,
                   format="taobao"),
        CorpusCase("taobao_headerless", "UserBehavior.csv", _taobao(header=False), "Taobao as released: no header",
                   rows_kept=4, format="taobao", stored={"user_id": TB_USERS}),
        CorpusCase("tmall_headerless", "tmall_nohdr.csv", _csv(None, ["7,301,0,6-4", "7,302,1,6-5"]),
                   "Tmall brand log without header", rows_kept=2, format="tmall2014",
                   stored={"ts": ["2013-06-04 00:00:00", "2013-06-05 00:00:00"]}),
        CorpusCase("header_case_and_spaces", "spaced.csv",
                   _csv("User_ID, Item_ID, Category_ID, Behavior_Type, Timestamp",
                        [r.replace(",", ", ") for r in TB_ROWS]),
                   "header in other case, a space after each comma", rows_kept=4, format="taobao",
                   stored={"category": ["100", "100", "101", "102"]}),
        CorpusCase("bom_header", "bom.csv", b"\xef\xbb\xbf" + tb, "UTF-8 BOM before the header", rows_kept=4,
                   format="taobao"),
        CorpusCase("bom_headerless", "bom_nohdr.csv", b"\xef\xbb\xbf" + _taobao(header=False),
                   "UTF-8 BOM before the first data row", rows_kept=4, stored={"user_id": TB_USERS}),
        CorpusCase("crlf", "crlf.csv", _csv(TB_HEADER, TB_ROWS, eol="\r\n"), "Windows line ends", rows_kept=4,
                   stored={"ts": ["2017-11-24 17:21:10", "2017-11-24 17:21:20", "2017-11-24 17:21:30",
                                  "2017-11-24 17:21:40"]}),
        CorpusCase("all_fields_quoted", "quoted.csv",
                   _csv('"user_id","item_id","category_id","behavior_type","timestamp"',
                        [",".join(f'"{v}"' for v in r.split(",")) for r in TB_ROWS]),
                   "every field in quotes", rows_kept=4, stored={"user_id": TB_USERS}),
        CorpusCase("gzip", "taobao.csv.gz", gzip.compress(tb, mtime=0), "gzip-compressed CSV", rows_kept=4,
                   format="taobao"),
        CorpusCase("zip_single", "taobao.zip", _zip({"__MACOSX/._x.csv": b"\x00\x05", "data/": b"",
                                                     "data/taobao.csv": tb}),
                   "zip with one CSV, a folder and macOS junk", rows_kept=4, format="taobao"),
        CorpusCase("quoted_newlines_and_delimiters", "quoted_nl.csv",
                   _csv(gen_header, ['1,"Books, kids\nnew",' + f"{T0},view", f'2,"say ""hi""",{T0},buy']),
                   "quoted fields holding a newline, a delimiter and doubled quotes", mapping=GEN, rows_kept=2,
                   stored={"category": ["Books, kids\nnew", 'say "hi"']}),
        CorpusCase("malformed_rows", "ragged.csv",
                   _taobao([*TB_ROWS[:2], f"3,14,100,pv,{T0},extra", "4,15", *TB_ROWS[2:]]),
                   "one row with too many fields, one with too few", rows_kept=4, rejected={"malformed_row": 2}),
        CorpusCase("pipe_with_commas_in_text", "pipe_text.txt",
                   _csv("uid|cat|when|act", [f"1|Books, kids; new|{T0}|view", f"2|Toys, big; red|{T0}|buy",
                                             f"3|Home\tgarden, ok|{T0}|fav"]),
                   "| delimiter with , ; and tab inside every text field (csv.Sniffer picked ';')", mapping=GEN,
                   rows_kept=3, stored={"category": ["Books, kids; new", "Home\tgarden, ok", "Toys, big; red"]}),
        CorpusCase("field_200k_in_sample", "field200k.csv", _csv(TB_HEADER, [*TB_ROWS, "3,14," + "z" * 200_000
                                                                            + f",pv,{T0}"]),
                   "a 200 KB field inside the sniffed sample (past Python csv's field limit)", rows_kept=5),
        CorpusCase("unclosed_quote_long_file", "unclosed_long.csv",
                   _big_taobao(8_000).replace(b"\n0,0,0,pv,", b'\n0,0,"0,pv,', 1),
                   "an unclosed quote on the first row of a 200 KB file: one malformed row to the end",
                   error="NoUsableRowsError", message="malformed_row 1"),
        CorpusCase("unclosed_quote_last_row", "unclosed_last.csv", _taobao([*TB_ROWS, '5,16,"100,pv,1']),
                   "an unclosed quote on the last row", rows_kept=4, rejected={"malformed_row": 1}),
        CorpusCase("huge_field", "huge.csv", _huge_field, "a 9 MiB field, past the 8 MiB line limit",
                   rows_kept=4, rejected={"malformed_row": 1}),
        CorpusCase("big_field_kept", "big.csv", _big_field_ok, "a 1 MiB field, kept", rows_kept=2),
        # ---- times ---------------------------------------------------------------------------
        CorpusCase("mixed_time_formats_taobao", "mixed_ts.csv",
                   _taobao([*TB_ROWS, f"3,14,100,pv,{T0}000", "3,15,100,pv,2017-11-25 10:00:00", "3,16,100,pv,",
                            "3,17,100,pv,nan", "3,18,100,pv,soon", f"3,19,100,pv,{T0}.5"]),
                   "Taobao (epoch s): ms, text, empty, nan and words among good rows", rows_kept=5,
                   rejected={"time_out_of_range": 1, "unparseable_time": 3, "missing_time": 1}),
        CorpusCase("epoch_s_and_ms_same_file", "s_ms.csv",
                   _csv(gen_header, [f"1,a,{T0},view", f"2,a,{T0}000,view", f"3,a,{T0}123,view",
                                     f"4,a,{T0}000000,view"]),
                   "epoch seconds, milliseconds and microseconds in one column (unit auto)", mapping=GEN,
                   rows_kept=4, stored={"ts": ["2017-11-24 17:21:10", "2017-11-24 17:21:10",
                                               "2017-11-24 17:21:10", "2017-11-24 17:21:10.123"]}),
        CorpusCase("iso_text_with_zones", "iso.csv",
                   _csv(gen_header, ["1,a,2017-11-25T08:00:00+08:00,view", "2,a,2017-11-25T00:00:00Z,view",
                                     "3,a,2017-11-24 19:00:00-05:00,view", "4,a,2017-11-25 00:00:00,view",
                                     "5,a,2017-11-25T08:00:00+0800,view", "6,a,2017-11-25 00:00:00 UTC,view"]),
                   "ISO text times with +08:00, Z, -05:00, +0800, UTC and none", mapping=GEN, rows_kept=6,
                   stored={"ts": ["2017-11-25 00:00:00"] * 6}),
        CorpusCase("timezone_mapping", "beijing.csv",
                   _csv(gen_header, ["1,a,2017-11-25 08:00:00,view", "2,a,2017-11-25T08:00:00+08:00,view",
                                     "3,a,2017-11-25T00:00:00Z,view", "4,a,1511568000,view"]),
                   "--timezone Asia/Shanghai: naive text shifts, zoned text and epochs do not",
                   mapping=replace(GEN, timezone="Asia/Shanghai"), rows_kept=4,
                   stored={"ts": ["2017-11-25 00:00:00"] * 4}),
        CorpusCase("time_format_mapping", "dmy.csv",
                   _csv(gen_header, ["1,a,25/11/2017 08:30,view", "2,a,2017-11-25 08:30,view"]),
                   "a strptime format in the mapping; a row in another format is unparseable",
                   mapping=replace(GEN, ts_unit="text", ts_format="%d/%m/%Y %H:%M"), rows_kept=1,
                   rejected={"unparseable_time": 1}, stored={"ts": ["2017-11-25 08:30:00"]}),
        CorpusCase("dates_far_future_and_past", "future.csv",
                   _csv(gen_header, [f"1,a,{T0},view", "2,a,4102444800,view", "3,a,2100-01-01,view",
                                     "4,a,9999-12-31 23:59:59,view", "5,a,99999999999999999999,view",
                                     "6,a,1e300,view", "7,a,-100,view", "8,a,1970-01-02,view", "9,a,inf,view"]),
                   "2100, 9999, 1e20, 1e300, inf, 1969 and 1970 among one good row", mapping=GEN, rows_kept=1,
                   rejected={"time_out_of_range": 8}),
        CorpusCase("huge_epoch_does_not_abort", "huge_epoch.csv",
                   _taobao([*TB_ROWS, "5,16,100,pv,50000000000000000", "5,17,100,pv,-9e18"]),
                   "Taobao (epoch s) with numbers too large for a timestamp", rows_kept=4,
                   rejected={"time_out_of_range": 2}),
        # ---- ids, behaviours, missing values ------------------------------------------------
        CorpusCase("nineteen_digit_ids", "ids.csv",
                   _taobao([f"1234567890123456789,9223372036854775808,2103807459595387724,pv,{T0}",
                            f"9999999999999999999,0000000000000000001,2103807459595387725,buy,{T0}",
                            f"0042,18446744073709551616,7,fav,{T0}"]),
                   "19- and 20-digit ids, past int64, and leading zeros", rows_kept=3,
                   stored={"user_id": ["0042", "1234567890123456789", "9999999999999999999"],
                           "item_id": ["0000000000000000001", "18446744073709551616", "9223372036854775808"],
                           "category": ["2103807459595387724", "2103807459595387725", "7"]}),
        CorpusCase("unknown_behaviour_codes", "codes.csv",
                   _taobao([*TB_ROWS, f"3,14,100,click,{T0}", f"3,15,100,5,{T0}", f"3,16,100,,{T0}",
                            f"3,17,100,  ,{T0}", f"3,18,100, pv ,{T0}"]),
                   "click and 5 unknown; empty and blank codes missing; ' pv ' trimmed and kept", rows_kept=5,
                   rejected={"unknown_behavior": 2, "missing_behavior": 2}),
        CorpusCase("missing_user_category_time", "missing.csv",
                   _taobao([*TB_ROWS, f",14,100,pv,{T0}", f"  ,14,100,pv,{T0}", "3,14,100,pv,",
                            f"3,10,,pv,{T0 + 99}", f"3,99,,pv,{T0}", f"3,,,pv,{T0}"]),
                   "empty user, blank user, empty time; empty categories: one item repairable, two not",
                   rows_kept=5, rejected={"missing_user": 2, "missing_time": 1, "missing_category": 2},
                   repaired={"category_filled_from_item": 1},
                   stored={"category": ["100", "100", "100", "101", "102"]}),
        CorpusCase("duplicates_drop", "dups.csv", _taobao(TB_ROWS + TB_ROWS[:2] + TB_ROWS[:1]),
                   "3 exact duplicates, Taobao default policy drop", rows_kept=4, rejected={"duplicate": 3}),
        CorpusCase("duplicates_keep", "dups_keep.csv", _taobao(TB_ROWS + TB_ROWS[:2] + TB_ROWS[:1]),
                   "the same with --duplicates keep", options=IngestOptions(duplicates="keep"), rows_kept=7),
        CorpusCase("tmall_keeps_duplicates", "tmall.csv",
                   _csv("user_id,brand_id,type,visit_datetime",
                        ["7,301,0,6-4", "7,301,0,6-4", "7,302,1,6-5", "8,303,2,7-1", "8,303,3,8-15",
                         "8,304,4,8-15", "9,305,0,2-30", "9,306,0,13-1"]),
                   "Tmall: a repeat kept (policy keep), type 4 unknown, 2-30 and 13-1 unparseable",
                   rows_kept=5, rejected={"unknown_behavior": 1, "unparseable_time": 2}, format="tmall2014",
                   stored={"behavior": ["buy", "cart", "fav", "view", "view"]}),
        CorpusCase("tmall_drop_duplicates", "tmall_drop.csv",
                   _csv("user_id,brand_id,type,visit_datetime", ["7,301,0,6-4", "7,301,0,6-4", "7,302,1,6-5"]),
                   "Tmall with --duplicates drop", options=IngestOptions(duplicates="drop"), rows_kept=2,
                   rejected={"duplicate": 1}),
        CorpusCase("rees46", "rees46.csv",
                   _csv(REES_HEADER, [
                       "2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,s1",
                       "2019-10-01 00:00:05 UTC,remove_from_cart,44600062,2103807459595387724,,shiseido,35.79,"
                       "541312140,s1",
                       "2019-10-01 00:00:07 UTC,cart,3900821,2053013552326770905,appliances.water_heater,aqua,"
                       "33.20,554748717,s2",
                       "2019-10-01 00:00:09 UTC,purchase,3900821,2053013552326770905,appliances.water_heater,"
                       "aqua,n/a,554748717,s2",
                       "2019-10-01 00:00:11 UTC,wishlist,3900821,2053013552326770905,,aqua,1,554748717,s2",
                   ]),
                   "REES46: remove_from_cart ignored, empty category_code falls back to category_id, "
                   "price n/a stored empty", rows_kept=3, format="rees46",
                   rejected={"ignored_behavior": 1, "unknown_behavior": 1},
                   repaired={"value_unparseable_set_null": 1},
                   stored={"category": ["2103807459595387724", "appliances.water_heater", "appliances.water_heater"],
                           "value": ["33.2", "35.79", None]}),
        CorpusCase("retailrocket_with_properties", "rr.csv",
                   _csv(RR_HEADER, ["1433221332117,257597,view,355908,", "1433224214164,992329,addtocart,248676,",
                                    "1433221999827,111016,transaction,318965,4000", "1433221955914,483717,view,1,"]),
                   "RetailRocket events + item_properties (latest categoryid per item; item 1 has none)",
                   side_files=(("item_properties_part1.csv", _csv("timestamp,itemid,property,value", [
                       "1435460400000,355908,categoryid,1173", "1431226800000,355908,categoryid,999",
                       "1441508400000,248676,categoryid,1051", "1439089200000,318965,categoryid,491",
                       "1439089200000,318965,available,1"])),),
                   rows_kept=3, rejected={"missing_category": 1}, format="retailrocket",
                   stored={"category": ["1051", "1173", "491"], "behavior": ["buy", "cart", "view"]}),
        CorpusCase("generic_constant_behaviour", "ratings_like.csv",
                   _csv("uid,cat,when", [f"1,a,{T0}", f"2,b,{T0 + 1}", f"3,c,{T0 + 2}"]),
                   "no behaviour column: every row 'view' from the mapping", mapping=GEN_VIEW, rows_kept=3,
                   format="generic", stored={"behavior": ["view", "view", "view"]}),
        CorpusCase("generic_value_column", "values.csv",
                   _csv("uid,cat,when,act,stars", [f"1,a,{T0},rate,4.5", f"2,a,{T0},rate,five",
                                                   f"3,a,{T0},RATE,"]),
                   "canonical codes in any case; a value that is no number is stored empty",
                   mapping=replace(GEN, value="stars"), rows_kept=3, repaired={"value_unparseable_set_null": 1},
                   stored={"value": ["4.5", None, None], "behavior": ["rate", "rate", "rate"]}),
        # ---- Parquet and other encodings, read ----------------------------------------------
        CorpusCase("parquet_generic_typed", "events.parquet", _parquet(pd.DataFrame({
            "user_id": pd.array([1234567890123456789, 2, 3], dtype="int64"),
            "item_id": ["a", None, "c"], "category": ["x", "y", None], "behavior": ["view", "buy", "fav"],
            "ts": pd.to_datetime(["2020-01-01 08:00", "2020-01-02 00:00", "2020-01-03 00:00"])
            .tz_localize("Asia/Shanghai"),
        })), "Parquet with int64 ids, a zoned timestamp column and a missing category", mapping=CANON,
            rows_kept=2, rejected={"missing_category": 1},
            stored={"user_id": ["1234567890123456789", "2"], "ts": ["2020-01-01 00:00:00", "2020-01-01 16:00:00"]}),
        CorpusCase("parquet_taobao_auto", "taobao.parquet", _parquet(pd.DataFrame({
            "user_id": [1, 1, 2], "item_id": [10, 11, 12], "category_id": [100, 100, 101],
            "behavior_type": ["pv", "buy", "zap"], "timestamp": [T0, T0 + 1, T0 + 2],
        })), "Parquet with Taobao's columns, format auto", rows_kept=2, rejected={"unknown_behavior": 1},
            format="taobao"),
        CorpusCase("latin1_with_option", "latin1_ok.csv",
                   _csv(TB_HEADER, [f"3,14,caf\u00e9,pv,{T0}"]).decode().encode("latin-1"),
                   "latin-1 with --encoding latin-1", options=IngestOptions(encoding="latin-1"), rows_kept=1,
                   stored={"category": ["caf\u00e9"]}),
        CorpusCase("gbk_with_option", "gbk.csv",
                   _csv(TB_HEADER, [f"3,14,\u5973\u88c5,pv,{T0}"]).decode().encode("gbk"),
                   "GBK (the Tmall contest's encoding) with --encoding gbk",
                   options=IngestOptions(encoding="gbk"), rows_kept=1, stored={"category": ["\u5973\u88c5"]}),
        CorpusCase("utf16_with_option", "utf16_ok.csv", tb.decode().encode("utf-16"), "UTF-16 with --encoding utf-16",
                   options=IngestOptions(encoding="utf-16"), rows_kept=4, stored={"user_id": TB_USERS}),
        CorpusCase("utf16le_no_bom_with_option", "utf16le_ok.csv", tb.decode().encode("utf-16-le"),
                   "UTF-16-LE without BOM, with --encoding utf-16-le", options=IngestOptions(encoding="utf-16-le"),
                   rows_kept=4),
        CorpusCase("gzip_latin1_with_option", "latin1.csv.gz",
                   gzip.compress(_csv(TB_HEADER, [f"3,14,\u00c5land,pv,{T0}"]).decode().encode("latin-1"), mtime=0),
                   "gzip of latin-1 with --encoding latin-1", options=IngestOptions(encoding="latin-1"),
                   rows_kept=1, stored={"category": ["\u00c5land"]}),
    ]
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "corpus case ids must be unique"
    return cases


def build_corpus(directory: str | Path) -> list[CorpusCase]:
    """Write every case's file (and side files) into ``directory``; return the cases with ``path`` set."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    built = []
    for case in corpus_cases():
        folder = root / case.id  # one folder per case: file names may repeat, side files sit beside
        folder.mkdir(exist_ok=True)
        path = folder / case.filename
        if callable(case.content):
            case.content(path)
        else:
            path.write_bytes(case.content)
        for name, data in case.side_files:
            (folder / name).write_bytes(data)
        built.append(replace(case, path=path))
    return built
