"""File names of export runs (SPEC 7): strftime codes and ``{audience}``, ``{export}``, ``{run}``,
``{change}`` (what a changes-only file holds: ``added``, ``removed``, ``full`` or ``changes``).

Rendered at the run's scheduled time in the export's timezone, so a retry writes the same name.
The result must be a plain file name, checked when the export is saved with a sample of the
longest values it can take: no folder separators, no ``..``, no control characters, at most 255
bytes. Names put into it are slugs (letters, digits, ``-`` and ``_``): an audience called
"A/B test" cannot walk out of the destination folder.
"""

from __future__ import annotations

import re
import string
import unicodedata
from datetime import datetime

PLACEHOLDERS = ("audience", "export", "run", "change")
CHANGES = ("added", "removed", "full", "changes")
# strftime codes that give the same text on every platform (no locale-free surprises like %c).
STRFTIME = re.compile(r"%(?:[YmdHMSjUWyaAbBpzZ%])")
ANY_CODE = re.compile(r"%.?")
# 255 bytes on most file systems, less what the upload's temporary name adds around it
# (".NAME.part-RUN-ATTEMPT").
MAX_BYTES = 220
PGP_SUFFIXES = (".pgp", ".gpg")


def slug(text: str, limit: int = 60) -> str:
    """A name as it may stand in a file name."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", ascii_text).strip("_")
    return (cleaned or "x")[:limit]


def render_file_name(template: str, *, at: datetime, audience: str, export: str,
                     run: int | str, encrypted: bool = False, change: str = "full") -> str:
    """The file name of a run: ``at`` is the scheduled instant in the export's timezone;
    ``change``: what the file holds (``CHANGES``), for ``{change}``."""
    check_codes(template)
    text = at.strftime(template)
    values = {"audience": slug(audience), "export": slug(export), "run": slug(str(run)),
              "change": change}
    name = string.Formatter().vformat(text, (), values)
    if encrypted and not name.lower().endswith(PGP_SUFFIXES):
        name += ".pgp"
    check_plain(name)
    return name


def check_codes(template: str) -> None:
    if not template or not template.strip():
        raise ValueError("is required")
    # Before strftime, which stops at a NUL and would hide what follows it ("a\x00/../b").
    _refuse_invisible(template)
    for code in ANY_CODE.findall(template):
        if not STRFTIME.fullmatch(code):
            raise ValueError(f"has the strftime code {code!r}, which is not allowed; use "
                             "%Y %m %d %H %M %S %j %U %W %y %a %A %b %B %p %z %Z or %%")
    for _, field, spec, conversion in string.Formatter().parse(template):
        if field is None:
            continue
        if field not in PLACEHOLDERS or spec or conversion:
            raise ValueError(f"has the placeholder {{{field}}}; use {{audience}}, {{export}}, "
                             "{run} or {change}")


def _refuse_invisible(text: str) -> None:
    """Control characters, and format characters such as U+202E (which shows "evil‮txt.exe"
    as "evilexe.txt") or U+200B, have no place in a file name."""
    for c in text:
        if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp"):
            raise ValueError(f"must not contain control or invisible characters "
                             f"(found U+{ord(c):04X})")


def check_plain(name: str) -> None:
    if name in ("", ".", ".."):
        raise ValueError(f"renders to {name!r}, which is not a file name")
    if "/" in name or "\\" in name:
        raise ValueError("must be a plain file name: no / or \\ (the destination's path says "
                         "the folder)")
    if ".." in name:
        raise ValueError("must not contain '..'")
    if name.startswith(".") and ".part-" in name:  # delivery/upload.py's temporary names
        raise ValueError("must not look like an upload's temporary name (.NAME.part-…): "
                         "those are removed from the server when left behind")
    _refuse_invisible(name)
    if len(name.encode("utf-8")) > MAX_BYTES:
        raise ValueError(f"renders to {len(name.encode('utf-8'))} bytes; at most {MAX_BYTES} "
                         "(the upload's temporary name needs the rest of the 255 a file "
                         "system allows)")


def has_placeholder(template: str, name: str) -> bool:
    try:
        return any(field == name for _, field, _, _ in string.Formatter().parse(template))
    except ValueError:
        return False
