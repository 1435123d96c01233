"""The bytes of a customer file, read by Python before DuckDB reads its rows (ingest.py): the
first lines decoded (a file not in its encoding is refused as a whole) and kept as the sample
DuckDB detects the dialect on; one pass over a plain file's bytes (``Looks``: which text checks
its rows need, a line too long to read); the whole text of a rejected record that DuckDB's
reject store cut. No DuckDB here: plain files, gzip files, and one-line messages about them.
"""

from __future__ import annotations

import codecs
import gzip
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import IngestError
from .schema import ENCODINGS

# The longest CSV line (or quoted field) read, in bytes: a longer one is a rejected row. Far above
# any real customer row, and it bounds the memory one line can take.
MAX_LINE_BYTES = 1_048_576
# DuckDB detects the delimiter and quote on the first lines of a CSV file (as many as it would).
SNIFF_LINES = 20_480
SNIFF_BYTES = 8 * MAX_LINE_BYTES
# The CSV file is decoded (checked) in pieces of this size: never read whole into memory.
READ_CHUNK = 1 << 20


def shown(path: Path | str) -> str:
    """A path or header name as it may appear in a one-line message (either may hold a
    newline)."""
    text = str(path)
    return text if text.isprintable() else repr(text)


# Encodings in which a control character is one byte of its own value, and no other character
# holds such a byte (UTF-8's multi-byte characters are made of bytes 0x80 and above).
BYTE_EXACT = ("utf-8", "latin-1")
CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


# DuckDB's CSV reader drops a line of about 32 MiB or more without a reject (it reads in
# buffers of that size); a line this long is refused before, naming it.
LONGEST_LINE = 16 << 20


@dataclass(frozen=True)
class Looks:
    """What one pass over a file's bytes found: whether a value may hold a control character
    (else that check is left out of the SQL), whether a value may hold a line break (a quote
    is in the file: only a quoted field holds one), the first line too long to read."""

    controls: bool
    quotes: bool
    long_line: int | None = None


# A file whose bytes are not looked at (gzip, UTF-16, Parquet): every value is checked.
UNSEEN = Looks(controls=True, quotes=True)


def look_at_bytes(path: Path) -> Looks:
    """One pass at C speed (0.3 s for 0.6 GB): checking every text value in SQL instead cost
    16% more CPU on an ingest of 10M transactions, for files that nearly never hold one."""
    controls = quotes = False
    lines, since_end = 1, 0  # lines begun; bytes since the last line end
    with open(path, "rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            controls = controls or len(chunk.translate(None, CONTROL_BYTES)) != len(chunk)
            quotes = quotes or b'"' in chunk
            last = chunk.rfind(b"\n")
            if last < 0:
                since_end += len(chunk)
                if since_end >= LONGEST_LINE:
                    return Looks(controls, quotes, lines)
            else:
                first = chunk.find(b"\n")
                if since_end + first >= LONGEST_LINE:
                    return Looks(controls, quotes, lines)
                lines += chunk.count(b"\n")
                since_end = len(chunk) - last - 1
    return Looks(controls, quotes)


@contextmanager
def naming(path: Path):
    """Yield ``path``; an OSError writing it names it (a full disk's message says where)."""
    try:
        yield path
    except OSError as exc:
        exc.filename = exc.filename or str(path)
        raise


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def is_gzip(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


def opened(path: Path):
    """The file's bytes, decompressed when it is gzip."""
    return (gzip.open if is_gzip(path) else open)(path, "rb")


def without_lf(rows: list[tuple]) -> Iterator[tuple]:
    """The reject store's rows, their text without the line feed DuckDB leaves at the start of
    a line of a CRLF file (it ends a line at the carriage return)."""
    for line, error_type, message, text, position in rows:
        if text.startswith("\n"):
            text, position = text[1:], position + 1
        yield line, error_type, message, text, position


def line_at(path: Path, position: int) -> str:
    """'line N' of the file at byte ``position`` (DuckDB numbers records, and a quoted line
    break makes its record two lines in an editor)."""
    lines, left = 1, position
    with opened(path) as handle:
        while left > 0 and (chunk := handle.read(min(READ_CHUNK, left))):
            lines += chunk.count(b"\n")
            left -= len(chunk)
    return f"line {lines}"


# DuckDB keeps this many bytes of a rejected line in its reject store; a longer one is read
# again from the file for the rejects file, up to RECORD_BYTES (longer lines are refused:
# LONGEST_LINE).
DUCKDB_LINE_CUT = 10_000
RECORD_BYTES = 16 << 20


def whole_record(path: Path, encoding: str, position: int, start: str) -> str:
    """The whole text of a rejected record DuckDB cut, read from the file at about
    ``position`` (where DuckDB says its line starts; the record's own start is found there):
    to its line end, or, when its first characters already span lines (a quoted field), to
    the first line end outside quotes. Said to be cut when it cannot be read whole."""
    cut = (f"{start} … (cut: the reader keeps the first {DUCKDB_LINE_CUT:,} bytes; "
           f"the record is at about byte {position:,} of the file)")
    if encoding != "utf-8":
        return cut  # DuckDB's positions are in the bytes it decoded, not the file's
    head = start.encode("utf-8")[:256]
    quoted = "\n" in start or "\r" in start
    with opened(path) as handle:
        begin = max(0, position - 16)
        handle.seek(begin)
        found = handle.read(len(head) + 32).find(head)
        if found < 0:
            return cut
        handle.seek(begin + found)
        record, quotes, size = [], 0, 0
        while size < RECORD_BYTES:
            chunk = handle.read(min(READ_CHUNK, RECORD_BYTES - size))
            if not chunk:
                break
            counted = 0  # quotes are counted once each, segment by segment
            for end in LINE_END.finditer(chunk):
                quotes += chunk.count(b'"', counted, end.start())
                counted = end.start()
                if not quoted or quotes % 2 == 0:
                    record.append(chunk[:end.start()])
                    return b"".join(record).decode("utf-8", "replace")
            quotes += chunk.count(b'"', counted)
            record.append(chunk)
            size += len(chunk)
        text = b"".join(record).decode("utf-8", "replace")
    if size >= RECORD_BYTES:
        return (f"{text} … (cut at {RECORD_BYTES:,} bytes; the record goes on in the file "
                f"after byte {begin + found + RECORD_BYTES:,})")
    return text


LINE_END = re.compile(rb"\r\n|\r|\n")


def check_text(path: Path, encoding: str, compressed: bool) -> Sample:
    """Stream the file's first lines (a UTF-16 file: all of it) through a decoder, a piece at a
    time: refuse it if they are not text in ``encoding``; return them, for DuckDB to detect the
    dialect on."""
    codec = ENCODINGS[encoding]
    decoder = codecs.getincrementaldecoder(codec)("strict")
    sample, lines = Sample(), 0
    try:
        with opened(path) as handle:
            head = chunk = handle.read(READ_CHUNK)
            if encoding == "utf-16" and head.startswith(codecs.BOM_UTF16_BE):
                raise IngestError(f"{shown(path)} is UTF-16 big-endian, which cannot be read; "
                                  "convert it to UTF-8")
            while True:
                try:
                    text = decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as exc:
                    line = lines + exc.object[:exc.start].decode(codec, "replace").count("\n") + 1
                    raise IngestError(not_in_encoding(path, encoding, line, head)) from None
                lines += text.count("\n")
                if not sample.full:
                    sample.add(text)
                elif encoding != "utf-16":
                    # Every byte is a Latin-1 character; DuckDB checks UTF-8 itself as it
                    # reads (_malformed). A pass over the whole file here was half the cost of
                    # an ingest. DuckDB's own UTF-16 decoding is not known to refuse bad bytes.
                    break
                if not chunk:
                    break
                chunk = handle.read(READ_CHUNK)
    except (OSError, EOFError, zlib.error) as exc:
        raise IngestError(f"{shown(path)}: cannot be read"
                          f"{' as gzip' if compressed else ''}: {exc}") from None
    sample.finish()
    if sample.header_too_long:
        raise IngestError(f"{shown(path)}: the header line is longer than "
                          f"{MAX_LINE_BYTES:,} bytes")
    if "\x00" in sample.text().partition("\n")[0]:
        raise IngestError(f"{shown(path)}: the header line holds NUL bytes; if the file is "
                          "UTF-16, pass --encoding utf-16")
    return sample


def not_in_encoding(path: Path, encoding: str, line: int, head: bytes) -> str:
    if encoding == "utf-8" and head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return (f"{shown(path)} is not UTF-8: it starts like UTF-16; pass --encoding utf-16 "
                "(little-endian) or convert it to UTF-8")
    if encoding == "utf-8":
        return (f"{shown(path)} is not UTF-8 (first bad byte at line {line}); convert it or "
                "pass --encoding latin-1")
    return f"{shown(path)} is not UTF-16 (first bad byte at line {line}); convert it to UTF-8"


# One line of text and its end (\r\n, \r or \n, as DuckDB counts lines).
LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)?")


class Sample:
    """The first lines of a CSV file, without the records that hold a line too long to read
    (DuckDB's own detection would fail the whole file on one). Quotes are counted to know a
    record's lines: a record cut in half would make its quote look unused."""

    def __init__(self):
        self.lines: list[str] = []
        self.size = 0
        self.line: list[str] | None = []  # pieces of the line being read; None: too long
        self.line_bytes = self.line_quotes = 0
        self.record_start = 0  # lines kept before the record being read
        self.open_quote = False  # the record being read continues on the next line
        self.dropping = False  # the record being read holds a line too long
        self.header_too_long = False

    @property
    def full(self) -> bool:
        return len(self.lines) >= SNIFF_LINES or self.size >= SNIFF_BYTES

    def add(self, text: str) -> None:
        for match in LINE.finditer(text):
            piece = match.group()
            if not piece:
                continue
            self.line_quotes += piece.count('"')
            if self.line is not None:
                self.line_bytes += len(piece.encode("utf-8"))
                if self.line_bytes > MAX_LINE_BYTES:
                    self.line = None
                else:
                    self.line.append(piece)
            if piece[-1] in "\r\n":
                self._end()
                if self.full:
                    return

    def _end(self) -> None:
        if self.line is None:  # too long: its whole record is left out
            self.header_too_long = self.header_too_long or not self.lines and not self.size
            del self.lines[self.record_start:]
            self.dropping = True
        elif not self.dropping:
            self.lines.append("".join(self.line))
            self.size += self.line_bytes
        self.open_quote ^= self.line_quotes % 2 == 1
        if not self.open_quote:
            self.record_start, self.dropping = len(self.lines), False
        self.line, self.line_bytes, self.line_quotes = [], 0, 0

    def finish(self) -> None:
        if self.line is None or self.line:  # the last line, without a line end
            self._end()

    def text(self) -> str:
        return "".join(self.lines).removeprefix("\ufeff")  # a byte order mark is no name

