"""Checks and cleaning of values taken from outside (servers, feeds, webhook receivers) before they are kept.

Whatever an index, a feed or a receiver sends may end up in PostgreSQL, a log line or the report. PostgreSQL
refuses NUL in text, lone surrogates in UTF-8, numbers beyond ``bigint`` and btree keys of more than about
2,700 bytes; a log line must stay one line. These helpers bound every such value first: they never raise.
"""

from __future__ import annotations

import re
from typing import Final

from thoth.package_releases.normalize import is_project_name

# The longest text (an error, a reason phrase) kept from outside; longer ones are cut with "...".
MAX_TEXT: Final = 1000
# The longest project name and version recorded: the graph's btree indexes take keys of at most ~2,700 bytes.
MAX_NAME_LENGTH: Final = 256
MAX_VERSION_LENGTH: Final = 256
# The longest ETag or Last-Modified kept (a longer validator is dropped: the next request is unconditional).
MAX_VALIDATOR_LENGTH: Final = 1024
# Serials are PostgreSQL bigints.
MAX_SERIAL: Final = 2**63 - 1
# How much of a hostile value a report line shows.
MAX_SHOWN: Final = 100

# C0 and C1 controls, DEL, and the lone surrogates that UTF-8 (hence PostgreSQL) cannot encode.
_UNSAFE: Final = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_BLANKS: Final = frozenset("\t\n\r\x0b\x0c")


def _escape(match: re.Match[str]) -> str:
    character = match.group()
    if character in _BLANKS:
        return " "
    code = ord(character)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def clean_text(text: str, *, limit: int | None = MAX_TEXT) -> str:
    """Return text with control characters escaped (blanks such as newlines made spaces), cut to ``limit``.

    Lone surrogates are escaped too; the result can be stored, logged on one line, and put in JSON for PostgreSQL.
    ``limit`` None keeps the whole text.
    """
    if limit is None:
        return _UNSAFE.sub(_escape, text)
    if limit < 4:
        raise ValueError("limit must be at least 4")
    cut = text[: limit + 1]  # escaping only lengthens: what lies beyond the limit is never looked at
    escaped = _UNSAFE.sub(_escape, cut)
    return escaped if len(escaped) <= limit else escaped[: limit - 3] + "..."


def shown(value: str, *, limit: int = MAX_SHOWN) -> str:
    """Return a value from outside as a report shows it: quoted, control characters escaped, cut to ``limit``."""
    return repr(clean_text(value, limit=limit))


def has_unsafe_characters(text: str) -> bool:
    """Return whether text holds a control character or a lone surrogate."""
    return _UNSAFE.search(text) is not None


def clean_validator(value: str | None) -> str | None:
    """Return an ETag or Last-Modified worth keeping and sending back: None when absent, too long or unsafe."""
    if value is None or len(value) > MAX_VALIDATOR_LENGTH or has_unsafe_characters(value):
        return None
    return value


def clean_serial(value: int | None) -> int | None:
    """Return a serial that fits a PostgreSQL bigint (0 to 2**63 - 1), else None (taken as absent)."""
    if value is None or not 0 <= value <= MAX_SERIAL:
        return None
    return value


def is_valid_name(name: str) -> bool:
    """Return whether a name from outside is a PEP 508 project name short enough to be recorded."""
    return len(name) <= MAX_NAME_LENGTH and is_project_name(name)


def version_too_long(version: str) -> bool:
    """Return whether a version is longer than the graph records."""
    return len(version) > MAX_VERSION_LENGTH
