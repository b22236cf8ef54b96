"""What every simple-API document (a project page, the project listing) is held to: pure, no I/O.

Content types, the PEP 691 API version, serials, and the checks an HTML document passes before its anchors
are read, on a body given whole or in pieces as it arrives.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Final

from packaging.version import Version
from pypi_simple import UnsupportedRepoVersionError, parse_links_stream

from thoth.package_releases.clean import clean_serial
from thoth.package_releases.redact import one_line

JSON_TYPE: Final = "application/vnd.pypi.simple.v1+json"
ACCEPT: Final = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"

_HTML_TYPES: Final = frozenset({"application/vnd.pypi.simple.v1+html", "text/html"})
_SUPPORTED_API_MAJOR: Final = 1
_CONTROL_CHARACTERS: Final = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_HTML_MARKERS: Final = re.compile(rb"<\s*(?:a\s|!doctype\s+html|html|body|head)", re.IGNORECASE)
# How far into an HTML document its structure is looked for.
_HTML_HEAD: Final = 64 * 1024
# PyPI ends its HTML pages with this comment; it is the only place an HTML page carries the serial.
HTML_SERIAL: Final = re.compile(rb"<!--\s*SERIAL\s+(\d+)\s*-->")
_MAX_SERIAL_DIGITS: Final = 19  # 2**63 - 1 has 19 digits
# The HTML parser holds a tag until it is closed: one longer than this is no page's (refused, not held).
MAX_HTML_TAG: Final = 1024 * 1024

# An anchor of an HTML page: its text, its href (not resolved), its attributes.
Link = tuple[str, str, Mapping[str, object]]


class PageError(ValueError):
    """A simple-API page whose content cannot be understood (or is beyond a bound); the message is one line."""


def as_serial(value: object) -> int | None:
    """Return an index serial given as int or decimal string, else None (also when it does not fit a bigint)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return clean_serial(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit() and len(text) <= _MAX_SERIAL_DIGITS:
            return clean_serial(int(text))
    return None


def html_serial(body: bytes) -> int | None:
    """Return the serial an HTML page's ``<!--SERIAL n-->`` comment gives, if any."""
    match = HTML_SERIAL.search(body)
    return as_serial(match.group(1).decode("ascii")) if match else None


def media_type(content_type: str) -> tuple[str, str | None]:
    """Return the lower-cased media type and the charset parameter of a Content-Type value."""
    kind, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return kind.strip().lower(), charset


def check_content_type(content_type: str) -> tuple[str, str | None]:
    """Return media type and charset of a simple-API page, or raise PageError for any other type."""
    kind, charset = media_type(content_type)
    if kind != JSON_TYPE and kind not in _HTML_TYPES:
        raise PageError(one_line(f"unexpected content type {content_type!r}"))
    return kind, charset


def check_meta(meta: object) -> None:
    """Raise PageError unless a PEP 691 document's ``meta`` is an object with a supported ``api-version``."""
    if not isinstance(meta, dict):
        raise PageError('malformed JSON: no "meta" object')
    api_version = meta.get("api-version")
    if not isinstance(api_version, str):
        raise PageError('malformed JSON: no "meta.api-version"')
    try:
        major = Version(api_version).release[0]
    except ValueError:
        raise PageError(one_line(f"malformed JSON: invalid api-version {api_version!r}")) from None
    if major > _SUPPORTED_API_MAJOR:
        raise PageError(one_line(f"unsupported repository version {api_version}"))


def html_links(pieces: Iterable[bytes], charset: str | None, limit: int, what: str) -> Iterator[Link]:
    """Yield (text, href, attributes) of each anchor of a PEP 503 page given in pieces; raise PageError.

    An HTML parser accepts nearly anything, so a garbled body would pass for a project with no files and
    its releases would be lost silently: control characters (which HTML forbids) and a body with neither
    an anchor nor any HTML structure in its first 64 KiB are refused instead, and so is a tag left open for
    longer than MAX_HTML_TAG bytes (the parser would hold it). More than ``limit`` anchors (``what`` they
    are, for the message) is a PageError too, raised as soon as the parser gets there.
    """
    # pypi-simple's streaming parser (about twice as fast as its BeautifulSoup one) yields the anchors as it
    # reads, instead of holding every one of a huge page at once; hrefs are not resolved.
    try:
        for count, link in enumerate(parse_links_stream(_checked_html(pieces), http_charset=charset), start=1):
            if count > limit:
                raise PageError(f"more than {limit} {what} on the page")
            yield link.text, link.url, link.attrs
    except (UnsupportedRepoVersionError, LookupError, ValueError) as exc:
        if isinstance(exc, PageError):
            raise
        raise PageError(one_line(f"malformed HTML: {exc}")) from None


def _checked_html(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """Yield the pieces of an HTML body once its first 64 KiB look like HTML, each checked as it comes."""
    head: list[bytes] = []
    held = 0
    checked = False
    open_tag = 0  # bytes since the last "<" not yet closed by a ">"
    for piece in pieces:
        if _CONTROL_CHARACTERS.search(piece):
            raise PageError("malformed HTML: control characters in the page")
        open_tag = _open_tag_bytes(piece, open_tag)
        if open_tag > MAX_HTML_TAG:
            raise PageError(f"malformed HTML: a tag longer than {MAX_HTML_TAG} bytes")
        if checked:
            yield piece
            continue
        head.append(piece)
        held += len(piece)
        if held >= _HTML_HEAD:
            body = b"".join(head)
            head.clear()
            _check_structure(body[:_HTML_HEAD])
            checked = True
            yield body
    if not checked:
        body = b"".join(head)
        _check_structure(body)
        yield body


def _check_structure(head: bytes) -> None:
    if not _HTML_MARKERS.search(head):
        raise PageError("malformed HTML: no anchors and no HTML structure")


def _open_tag_bytes(piece: bytes, before: int) -> int:
    """Return the bytes since the last unclosed "<" at the end of ``piece`` (``before`` of them at its start)."""
    opened = piece.rfind(b"<")
    closed = piece.rfind(b">")
    if opened > closed:
        return len(piece) - opened
    if closed >= 0:
        return 0
    return before + len(piece) if before else 0
