"""Ids typed by people (CLI arguments, JSON files, widgets) turned into store ids.

Store ids are 64-bit integers. A larger number must be refused here, as bad input, before it
reaches a database driver, where it is an ``OverflowError`` (SQLite) or a driver error, not a
"no such audience".
"""

from __future__ import annotations

from .errors import InvalidInput

MAX_ID = 2**63 - 1


def parse_id(value: int | str, what: str = "audience") -> int:
    """``value`` as an id: an int or a string of ASCII digits, from 1 to ``MAX_ID``."""
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        # isascii: str.isdigit() also accepts '²' and other digits that int() refuses or reads
        # differently; and a short test first, so a million-digit string is never converted.
        if text.isascii() and text.isdigit() and len(text) <= len(str(MAX_ID)):
            number = int(text)
    if number is None or not 1 <= number <= MAX_ID:
        # The 64-bit bound is the store's, not a person's: "a positive whole number" says it.
        raise InvalidInput(f"{what} id must be a positive whole number, such as 12; "
                           f"not {_shown(value)}")
    return number


def _shown(value) -> str:
    """The refused value, short and on one line, for the message."""
    try:
        text = repr(value)
    except ValueError:  # an int of more than 4300 digits has no repr
        return "a number too long to show"
    return text if len(text) <= 40 else text[:39] + "…"
