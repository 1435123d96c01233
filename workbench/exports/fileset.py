"""The files one export run delivers (SPEC 7, wave 3): compressed, split into numbered parts
and described by a manifest delivered last. Pure rules and local streams; no server here.

- Compression (``gzip``, ``zstd``) streams the written CSV into a compressed file before it is
  encrypted. gzip is written with no name and no time in its header, so the same rows give the
  same bytes.
- Splitting cuts the CSV between records, never inside one (a quoted value may hold a line
  break: a record ends at a line end outside quotes). Each part starts with the header when
  the export has one; ``rows`` counts records without the header; ``bytes`` bounds a part's
  CSV text (header included) before compression and encryption; a single record longer than
  that is a part of its own.
- Part names insert ``_partNNN`` before the name's extensions (``.csv.gz.pgp``); the manifest
  is the name without them plus ``.manifest.json``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK = 1 << 20
SUFFIXES = {"gzip": ".gz", "zstd": ".zst"}
# The extensions a part number goes before (case-insensitive), as a chain at the name's end.
EXTENSIONS = re.compile(r"((?:\.(?:csv|tsv|txt|gz|zst|zstd|pgp|gpg))+)$", re.IGNORECASE)
MANIFEST_SUFFIX = ".manifest.json"
GZIP_LEVEL = 6  # zlib's default: level 9 costs twice the time for a few percent


def suggested_name(name: str, compression: str) -> str | None:
    """The file name a compressed export should rather have (``…csv`` → ``…csv.gz``), or None
    when the name already says it."""
    suffix = SUFFIXES[compression]
    lowered = name.lower()
    if re.search(re.escape(suffix) + ("d?" if compression == "zstd" else "")
                 + r"(\.(pgp|gpg))?$", lowered):
        return None
    # A name that says the other compression (x.csv.gz holding zstd): that suffix replaced,
    # not a second one added (x.csv.gz.zst would say it is both).
    other = re.search(r"\.(gz|zst|zstd)(?=(\.(pgp|gpg))?$)", name, re.IGNORECASE)
    if other:
        return name[:other.start()] + suffix + name[other.end():]
    for pgp in (".pgp", ".gpg"):
        if lowered.endswith(pgp):
            return name[:-len(pgp)] + suffix + name[-len(pgp):]
    return name + suffix


def part_name(name: str, part: int, count: int) -> str:
    """``women_20260311.csv.gz.pgp``, part 2 of 12 → ``women_20260311_part002.csv.gz.pgp``:
    numbered from 1, at least three digits (more when there are more parts), so the names
    sort in order."""
    width = max(3, len(str(count)))
    found = EXTENSIONS.search(name)
    stem, extensions = (name[:found.start()], found.group(1)) if found else (name, "")
    return f"{stem}_part{part:0{width}d}{extensions}"


def manifest_name(name: str) -> str:
    """``women_20260311.csv.gz.pgp`` → ``women_20260311.manifest.json``."""
    found = EXTENSIONS.search(name)
    return (name[:found.start()] if found else name) + MANIFEST_SUFFIX


def manifest(*, export: dict, run: int, scheduled_for: str, as_of: str | None, change: str,
             files: list[dict]) -> bytes:
    """The manifest's JSON: the run's data files as they are on the server (after compression
    and encryption), in delivery order, and their total of rows."""
    listed = [{"file_name": f["file_name"], "change": f["change"], "part": f.get("part"),
               "rows": f["rows"], "bytes": f["bytes"], "sha256": f["sha256"]} for f in files]
    body = {"export": export, "run": run, "scheduled_for": scheduled_for, "as_of": as_of,
            "changes": change, "files": len(listed), "total_rows": sum(f["rows"] for f in listed),
            "parts": listed}
    return (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# -- compression -----------------------------------------------------------------------------

def compressed(kind: str | None, target: BinaryIO):
    """A writable stream that compresses into ``target`` (closing it finishes the stream, not
    ``target``); ``target`` itself without compression."""
    if kind is None:
        return _Unclosed(target)
    if kind == "gzip":
        return gzip.GzipFile(filename="", mode="wb", fileobj=target, compresslevel=GZIP_LEVEL,
                             mtime=0)
    if kind == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=3).stream_writer(target, closefd=False)
    raise ValueError(f"unknown compression {kind!r}")


class _Unclosed:
    def __init__(self, target: BinaryIO):
        self._target = target

    def write(self, data: bytes) -> int:
        return self._target.write(data)

    def close(self) -> None:
        pass


class CompressedFile:
    """A file written through ``compressed``; ``close`` ends the stream, then the file."""

    def __init__(self, kind: str | None, path: Path):
        self._file = open(path, "wb")
        self._stream = compressed(kind, self._file)

    def write(self, data: bytes) -> int:
        return self._stream.write(data)

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._file.close()


def compress_file(kind: str, source: Path, target: Path) -> None:
    """Stream ``source`` into ``target`` compressed, a block at a time."""
    writer = CompressedFile(kind, target)
    try:
        with open(source, "rb") as plain:
            while chunk := plain.read(CHUNK):
                writer.write(chunk)
    finally:
        writer.close()


# -- splitting ---------------------------------------------------------------------------------

@dataclass
class Part:
    number: int
    path: Path
    rows: int
    csv_bytes: int  # the part's CSV text, header included, before compression


class Writable(Protocol):
    def write(self, data: bytes) -> int: ...

    def close(self) -> None: ...


class TooManyParts(ValueError):
    """The split would make more than its limit of parts (nothing of it is kept)."""


def split_csv(source: Path, *, rows: int | None = None, size: int | None = None,
              header: bool, open_part: Callable[[int], tuple[Path, Writable]],
              max_parts: int | None = None) -> list[Part]:
    """Split the CSV at ``source`` into parts of at most ``rows`` records or ``size`` bytes;
    ``open_part(n)`` gives where part n goes (a path, and a stream that compresses into it).
    Always at least one part (an empty list gives a part with only the header). More than
    ``max_parts`` parts raise ``TooManyParts`` as soon as the next one would begin."""
    records = _records(source)
    head = (next(records, None) or b"") if header else b""
    parts: list[Part] = []
    number, current, count, written = 0, None, 0, 0
    buffer: list[bytes] = []  # records are written in blocks, not one call each
    buffered = 0

    def flush() -> None:
        nonlocal buffered
        if buffer:
            current[1].write(b"".join(buffer))
            buffer.clear()
            buffered = 0

    def close() -> None:
        flush()
        current[1].close()
        parts.append(Part(number, current[0], count, written))

    def start() -> None:
        nonlocal number, current, count, written
        if max_parts is not None and number >= max_parts:
            raise TooManyParts(f"more than {max_parts:,} parts")
        number += 1
        current = open_part(number)
        current[1].write(head)
        count, written = 0, len(head)

    for record in records:
        if current is None:
            start()
        elif (rows is not None and count >= rows) or \
                (size is not None and count and written + len(record) > size):
            close()
            start()
        buffer.append(record)
        buffered += len(record)
        count += 1
        written += len(record)
        if buffered >= CHUNK:
            flush()
    if current is None:  # no rows: one part, its header only
        start()
    close()
    return parts


def _records(source: Path) -> Iterator[bytes]:
    """The CSV's records with their line ends, read in blocks: a record ends at a line feed
    outside quotes (RFC 4180: a quote inside a quoted value is doubled, so counting quotes
    says whether a position is inside one)."""
    with open(source, "rb") as handle:
        pending, inside = b"", False
        while block := handle.read(CHUNK):
            start = 0
            if not inside and b'"' not in block:  # the usual case: every line is a record
                lines = block.split(b"\n")
                if len(lines) > 1:
                    yield pending + lines[0] + b"\n"
                    for line in lines[1:-1]:
                        yield line + b"\n"
                    pending = lines[-1]
                else:
                    pending += block
                continue
            while True:
                end = block.find(b"\n", start)
                if end < 0:
                    inside ^= block.count(b'"', start) % 2 == 1
                    pending += block[start:]
                    break
                inside ^= block.count(b'"', start, end) % 2 == 1
                if inside:  # a line break inside a quoted value: the record goes on
                    pending += block[start:end + 1]
                else:
                    yield pending + block[start:end + 1]
                    pending = b""
                start = end + 1
        if pending:
            yield pending


def sha256_of(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
