"""RSS feeds of new releases (PyPI's ``updates.xml`` and ``packages.xml``): the fast path before the index scan.

PyPI's ``updates.xml`` lists the newest releases, one item per release, titled ``"<name> <version>"`` and linked
to ``https://pypi.org/project/<name>/<version>/``. ``packages.xml`` lists the newest projects, titled
``"<name> added to PyPI"`` and linked to ``https://pypi.org/project/<name>/``. Name and version are read from the
title and, when the title is not in one of those forms, from the link. Items that cannot be read are reported,
not guessed at.

A feed only speeds up discovery: the index scan finds the same releases later. A document that is not
well-formed XML is therefore rejected as a whole rather than read by a lenient parser, so that a cut-off or
mangled item can never be recorded as a release that does not exist.
"""

from __future__ import annotations

import io
import logging
import os
import re
import xml.sax
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import feedparser
import requests

from thoth.package_releases.clean import MAX_SHOWN, MAX_VERSION_LENGTH, clean_text, is_valid_name, version_too_long
from thoth.package_releases.clean import shown as show_value
from thoth.package_releases.config import FeedConfig
from thoth.package_releases.normalize import normalize_name, normalize_version
from thoth.package_releases.redact import describe, mask_url, one_line
from thoth.package_releases.sources.http import USER_AGENT, BodyError, BodyProblem, RequestFailed, get, new_session

_LOGGER = logging.getLogger(__name__)

ACCEPT: Final = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
DEFAULT_MAX_BYTES: Final = 10 * 1024 * 1024

_MAX_SHOWN_TITLE: Final = 100
# "<name> <version>" (updates.xml) and "<name> added to PyPI" (packages.xml); names and versions hold no spaces.
_RELEASE_TITLE: Final = re.compile(r"(\S+)\s+(\S+)")
_PROJECT_TITLE: Final = re.compile(r"(\S+)\s+added\s+to\s+PyPI", re.IGNORECASE)
# /project/<name>/ and /project/<name>/<version>/ (the trailing slash optional).
_PROJECT_PATH: Final = re.compile(r"/project/([^/]+)(?:/([^/]+))?/?")
# A document that starts (after an XML declaration and comments) with an HTML doctype or <html>.
_HTML_START: Final = re.compile(
    rb"(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.IGNORECASE | re.DOTALL
)


@dataclass(frozen=True)
class FeedItem:
    """A release (or, with no version, a newly registered project) announced by a feed; both parts normalized."""

    package_name: str
    package_version: str | None


@dataclass(frozen=True)
class FeedResult:
    """What fetching one feed gave: its items, one-line reasons for the items skipped, or why it failed."""

    url: str
    index_url: str
    items: tuple[FeedItem, ...] = ()
    skipped: tuple[str, ...] = ()
    error: str | None = None


class FeedError(ValueError):
    """A document that is not a readable RSS or Atom feed; the message is one line."""


def parse_feed(
    body: bytes, url: str, *, content_type: str | None = None
) -> tuple[tuple[FeedItem, ...], tuple[str, ...]]:
    """Return the items of a feed document (duplicates removed, order kept) and why others were skipped.

    Raises FeedError when the document is empty, not well-formed XML, or XML that is not an RSS or Atom
    feed (an HTML error page, say). A valid feed with no items gives no items. ``url`` is only used in
    messages; ``content_type`` is the HTTP header, whose charset (if any) tells the document's encoding.
    """
    shown_url = mask_url(url)
    if not body.strip():
        raise FeedError(f"{shown_url}: empty document")
    # A stream, not bytes: feedparser would try to open bytes that look like a file name as a local file.
    headers = {"content-type": content_type} if content_type else None
    parsed = feedparser.parse(
        io.BytesIO(body), response_headers=headers, resolve_relative_uris=False, sanitize_html=False
    )
    _check_document(parsed, shown_url, body)
    items: dict[FeedItem, None] = {}
    skipped: list[str] = []
    for position, entry in enumerate(parsed.entries, start=1):
        item = _read_entry(entry)
        if isinstance(item, FeedItem):
            items.setdefault(item)
        else:
            skipped.append(f"item {position}: {item}")
    return tuple(items), tuple(skipped)


def fetch_feed(
    feed: FeedConfig,
    *,
    timeout: float,
    session: requests.Session | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    environ: Mapping[str, str] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> FeedResult:
    """Download and parse one feed; never raises: a failure is the result's ``error`` (one line, masked).

    TLS certificates are verified (against the CA bundle ``environ`` names, if any; default: the process
    environment). ``timeout`` bounds connecting, each read, receiving the headers and receiving the whole body;
    a body larger than ``max_bytes`` (after decompression) is a failure. The download is cut short as soon as
    ``should_stop()`` turns true.
    """
    http = session if session is not None else new_session(os.environ if environ is None else environ)
    try:
        body, content_type = _download(http, feed.url, timeout, max_bytes, should_stop)
        items, skipped = parse_feed(body, feed.url, content_type=content_type)
    except (_DownloadError, FeedError) as error:
        reason = str(error)
    except Exception as error:  # a bug or an unforeseen library failure must not end the run
        reason = one_line(f"{mask_url(feed.url)}: unexpected {describe(error)}")
    else:
        _LOGGER.info("Feed %s: %d item(s), %d skipped", mask_url(feed.url), len(items), len(skipped))
        for why in skipped:
            _LOGGER.debug("Feed %s: skipped %s", mask_url(feed.url), why)
        return FeedResult(url=feed.url, index_url=feed.index_url, items=items, skipped=skipped)
    finally:
        if session is None:
            http.close()
    reason = clean_text(reason)
    _LOGGER.warning("Feed failed: %s", reason)
    return FeedResult(url=feed.url, index_url=feed.index_url, error=reason)


# -- parsing ---------------------------------------------------------------------------------------------------


def _check_document(parsed: Any, shown_url: str, body: bytes) -> None:
    """Raise FeedError unless feedparser read the document as a well-formed RSS or Atom feed."""
    if _HTML_START.match(body[:4096]):
        raise FeedError(f"{shown_url}: not an RSS or Atom feed (it looks like HTML)")
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    # With no usable encoding, or after an XML error, feedparser falls back to its lenient parser.
    if not parsed.get("encoding") or isinstance(problem, feedparser.CharacterEncodingUnknown):
        raise FeedError(f"{shown_url}: cannot determine the character encoding")
    if isinstance(problem, xml.sax.SAXParseException):
        where = f"line {problem.getLineNumber()}, column {problem.getColumnNumber()}"
        raise FeedError(f"{shown_url}: not well-formed XML ({where}: {problem.getMessage()})")
    if isinstance(problem, xml.sax.SAXException | feedparser.UndeclaredNamespace):
        raise FeedError(one_line(f"{shown_url}: not well-formed XML ({problem})"))
    # What is left (an encoding declared wrongly, a content type that is not XML's) concerns a document that
    # feedparser read with its strict XML parser, and is harmless here.
    if not parsed.get("version"):
        raise FeedError(f"{shown_url}: not an RSS or Atom feed")


def _read_entry(entry: Any) -> FeedItem | str:
    """Return the item an entry announces, or one line saying why it cannot be read."""
    title = " ".join(str(entry.get("title") or "").split())
    link = str(entry.get("link") or "").strip()
    shown = repr(_shorten(title)) if title else f"link {_shorten(mask_url(link))!r}" if link else "(no title, no link)"
    readings = [found for found in (_from_title(title), _from_link(link)) if found is not None]
    if not readings:
        return f"{shown}: cannot read a package name and version from the title or the link"
    checked = [_check_reading(name, version) for name, version in readings]
    valid = [item for item in checked if isinstance(item, FeedItem)]
    if not valid:
        return f"{shown}: {checked[0]}"
    if any(item != valid[0] for item in valid):
        return f"{shown}: the title and the link name different releases ({_shorten(mask_url(link))})"
    return valid[0]


def _check_reading(name: str, version: str | None) -> FeedItem | str:
    """Return the normalized item a (name, version) reading stands for, or why it is not a valid one."""
    if not is_valid_name(name):
        return f"invalid package name {show_value(name)}"
    if version is None:
        return FeedItem(package_name=normalize_name(name), package_version=None)
    if version_too_long(version):
        return f"invalid version {show_value(version)} (longer than {MAX_VERSION_LENGTH} characters)"
    normalized = normalize_version(version)
    if normalized is None or version_too_long(normalized):
        return f"invalid version {show_value(version)} (not PEP 440)"
    return FeedItem(package_name=normalize_name(name), package_version=normalized)


def _from_title(title: str) -> tuple[str, str | None] | None:
    """Return (name, version or None) from a PyPI item title, or None when the title has another form."""
    added = _PROJECT_TITLE.fullmatch(title)
    if added:
        return added.group(1), None
    release = _RELEASE_TITLE.fullmatch(title)
    if release:
        return release.group(1), release.group(2)
    return None


def _from_link(link: str) -> tuple[str, str | None] | None:
    """Return (name, version or None) from a ``/project/<name>/[<version>/]`` link, or None for another link."""
    try:
        path = urlsplit(link).path
    except ValueError:
        return None
    match = _PROJECT_PATH.fullmatch(path)
    if match is None:
        return None
    name = unquote(match.group(1))
    version = unquote(match.group(2)) if match.group(2) else None
    return name, version


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN_TITLE else text[: _MAX_SHOWN_TITLE - 3] + "..."


# -- downloading -----------------------------------------------------------------------------------------------


class _DownloadError(Exception):
    """The feed could not be downloaded; the message is one masked line."""


def _download(
    session: requests.Session, url: str, timeout: float, max_bytes: int, should_stop: Callable[[], bool] | None
) -> tuple[bytes, str | None]:
    """Return the body and content type of a 200 response to a GET of the feed; raise _DownloadError."""
    shown_url = mask_url(url)
    try:
        reply = get(
            session,
            url,
            timeout=timeout,
            max_bytes=max_bytes,
            headers={"User-Agent": USER_AGENT, "Accept": ACCEPT},
            should_stop=should_stop,
        )
    except RequestFailed as failure:
        raise _DownloadError(one_line(f"{shown_url}: {failure.reason}")) from None
    except BodyError as error:
        if error.problem is BodyProblem.TOO_LARGE:
            declared = f" ({error.detail})" if error.detail else ""
            raise _DownloadError(f"{shown_url}: the feed is larger than {max_bytes} bytes{declared}") from None
        if error.problem is BodyProblem.TOO_SLOW:
            raise _DownloadError(f"{shown_url}: body not received within {timeout:g} s") from None
        raise _DownloadError(one_line(f"{shown_url}: body not received: {error.detail}")) from None
    if reply.status != 200:
        reason = clean_text(reply.reason or "", limit=MAX_SHOWN)  # the server's words: any character, any length
        raise _DownloadError(one_line(f"{shown_url}: HTTP {reply.status} {reason}"))
    return reply.body, reply.headers.get("Content-Type")
