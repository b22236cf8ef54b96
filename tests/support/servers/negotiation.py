"""Content negotiation of the simple API (PEP 691) and conditional requests."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

JSON_CONTENT_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_CONTENT_TYPE = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"
PAGE_CONTENT_TYPES = (JSON_CONTENT_TYPE, HTML_CONTENT_TYPE, TEXT_HTML)
_JSON_ALIASES = (JSON_CONTENT_TYPE, "application/vnd.pypi.simple.latest+json")
_HTML_ALIASES = (HTML_CONTENT_TYPE, "application/vnd.pypi.simple.latest+html")


def _media_ranges(accept: str) -> list[tuple[str, str, float]]:
    ranges = []
    for part in accept.split(","):
        media, *params = part.split(";")
        main, _, sub = media.strip().lower().partition("/")
        if not main:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        ranges.append((main, sub or "*", q))
    return ranges


def _quality(ranges: list[tuple[str, str, float]], offers: Sequence[str]) -> tuple[float, int]:
    """Return (q, specificity) of the most specific media range matching any of ``offers``."""
    best = (0.0, -1)
    for offer in offers:
        main, _, sub = offer.partition("/")
        for r_main, r_sub, q in ranges:
            if r_main == main and r_sub == sub:
                specificity = 2
            elif r_main == main and r_sub == "*":
                specificity = 1
            elif r_main == "*" and r_sub == "*":
                specificity = 0
            else:
                continue
            if (specificity, q) > (best[1], best[0]):
                best = (q, specificity)
    return best


@lru_cache(maxsize=256)
def negotiate(accept: str | None, formats: tuple[str, ...]) -> str | None:
    """Return the content type of the page to serve for an Accept header, or None (406).

    JSON when it is available and accepted with a higher quality than HTML, or the same quality
    named explicitly (as Warehouse does; a bare ``*/*`` or no Accept header gets HTML when both are
    available, as PyPI serves browsers and curl); otherwise HTML whatever the client
    asked for, as simple indexes without PEP 691 do (``application/vnd.pypi.simple.v1+html`` when
    preferred over ``text/html``, else ``text/html``); None only when JSON is the only format and not
    accepted.
    """
    ranges = _media_ranges(accept or "*/*")
    html_v1 = _quality(ranges, _HTML_ALIASES)
    text_html = _quality(ranges, (TEXT_HTML,))
    if "json" in formats:
        json_q = _quality(ranges, _JSON_ALIASES)
        best_html = max(html_v1, text_html)
        explicit_tie = json_q[0] == best_html[0] and json_q[1] == 2
        if json_q[0] > 0 and ("html" not in formats or json_q[0] > best_html[0] or explicit_tie):
            return JSON_CONTENT_TYPE
    if "html" in formats:
        return HTML_CONTENT_TYPE if html_v1[0] > 0 and html_v1 > text_html else TEXT_HTML
    return None


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Tell whether an ``If-None-Match`` value matches a strong ETag (weak comparison, as for GET)."""
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


@lru_cache(maxsize=64)
def accepts_gzip(accept_encoding: str | None) -> bool:
    """Tell whether an ``Accept-Encoding`` value accepts gzip (named or ``*``, with a quality above 0)."""
    for part in (accept_encoding or "").split(","):
        coding, *params = part.split(";")
        if coding.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        if quality > 0:
            return True
    return False
