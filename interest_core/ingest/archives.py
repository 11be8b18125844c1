"""Compressed and oddly named sources, made safe for DuckDB's readers.

- a .zip member is extracted with a size cap, or only its head for previews;
- a .gz is measured (never written) against the cap, or its head taken for previews;
- a path with glob characters is read through a plain-named symlink.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
import typing
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from interest_core.errors import DecompressedTooLargeError, UnreadableFileError


def remove_temps(paths: list[Path]) -> None:
    for p in paths:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


GLOB_CHARS = frozenset("*?[]{}")


def literal_path(path: Path, temps: list[Path]) -> Path:
    """A path DuckDB reads as this one file: its readers expand * ? [ ] { } as globs.

    A path holding one of those is read through a symlink with a plain name in a private folder
    (appended to ``temps`` for removal), so ``w[1].csv`` never reads ``w1.csv``.
    """
    if not GLOB_CHARS & set(str(path)):
        return path
    folder = Path(tempfile.mkdtemp(prefix="ic-literal-"))
    temps.append(folder)
    link = folder / ("source" + "".join(c for c in path.suffix if c.isalnum() or c == "."))
    link.symlink_to(path.resolve())
    return link


@contextmanager
def literal_paths(paths: Sequence[str | Path]) -> Iterator[list[Path]]:
    """``literal_path`` of several files, the links removed on exit."""
    temps: list[Path] = []
    try:
        yield [literal_path(Path(p), temps) for p in paths]
    finally:
        remove_temps(temps)


def too_large(name: str, limit: int) -> DecompressedTooLargeError:
    return DecompressedTooLargeError(
        f"{name!r} decompresses to more than {limit / 2**20:,.0f} MiB, the limit for ingest here",
        "upload a smaller file, or ingest it with the command line (python -m interest_core ingest), "
        "or raise INTEREST_MAX_DECOMPRESSED_MB",
    )


def check_gzip_size(path: Path, limit: int) -> None:
    """Inflate the stream without writing it, counting bytes, and stop past the limit."""
    total = 0
    try:
        with gzip.open(path, "rb") as fh:
            while block := fh.read(4 * 1024 * 1024):
                total += len(block)
                if total > limit:
                    raise too_large(path.name, limit)
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableFileError(f"{path.name!r} could not be decompressed ({exc})", "check the file") from None


def write_head(src: typing.IO[bytes] | gzip.GzipFile, head_bytes: int,
                workdir: Path | None, name: str) -> Path:
    """The first ``head_bytes`` of a stream, cut after its last whole line, as a temp file."""
    try:
        head = src.read(head_bytes)
        more = bool(src.read(1))
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableFileError(f"{name!r} could not be decompressed ({exc})", "check the file") from None
    if more and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]
    fd, tmp = tempfile.mkstemp(suffix=".csv", dir=workdir)
    with open(fd, "wb") as dst:
        dst.write(head)
    return Path(tmp)


def unzip_single(path: Path, workdir: Path | None, limit: int | None, head_bytes: int | None) -> Path:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise UnreadableFileError(f"{path.name!r} is not a valid zip archive", "re-create the zip") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX")]
        if len(members) != 1:
            raise UnreadableFileError(
                f"zip {path.name!r} holds {len(members)} files",
                "put exactly one CSV in the zip, or unzip it and pass the CSV",
            )
        if head_bytes is not None:
            with archive.open(members[0]) as src:
                return write_head(src, head_bytes, workdir, path.name)
        fd, tmp = tempfile.mkstemp(suffix=".csv", dir=workdir)
        written = 0
        try:
            with archive.open(members[0]) as src, open(fd, "wb") as dst:
                while block := src.read(4 * 1024 * 1024):
                    written += len(block)
                    if limit is not None and written > limit:
                        raise too_large(path.name, limit)  # before the disk fills, not after
                    dst.write(block)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return Path(tmp)
