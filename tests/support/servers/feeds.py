"""Static documents at exact paths (PyPI-style RSS feeds built by :func:`rss_updates` and :func:`rss_packages`)."""

from __future__ import annotations

import email.utils
import hashlib
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from xml.sax.saxutils import escape as xml_escape

from tests.support.servers.base import TargetFaults
from tests.support.servers.faults import send_with_fault
from tests.support.servers.handler import Handler, header_block
from tests.support.servers.negotiation import etag_matches
from tests.support.servers.recording import ANY


@dataclass(frozen=True)
class _Document:
    body: bytes
    content_type: str
    status: int
    etag: str
    headers: tuple[tuple[str, str], ...]


class FeedServer(TargetFaults):
    """Serves documents set by the test at exact paths (query strings ignored); other paths: 404.

    Documents with status 200 carry an ``ETag`` and answer a matching ``If-None-Match`` with 304.
    ``fail``/``reset``/``hang``/``trickle``/``truncate`` and ``hold`` take a path (or :data:`ANY`).
    """

    ANY = ANY

    def __init__(self, port: int = 0) -> None:
        super().__init__(port)
        self._documents: dict[str, _Document] = {}

    def set(
        self,
        path: str,
        body: bytes,
        content_type: str = "application/rss+xml",
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Serve ``body`` at ``path`` from now on; return its URL (once started)."""
        path = "/" + path.lstrip("/")
        etag = '"' + hashlib.sha1(body, usedforsecurity=False).hexdigest() + '"'
        self._documents[path] = _Document(body, content_type, status, etag, tuple((headers or {}).items()))
        return f"{self.url}{path}" if self._port else path

    def remove(self, path: str) -> None:
        """Stop serving a document (404 from now on)."""
        self._documents.pop("/" + path.lstrip("/"), None)

    def url_for(self, path: str) -> str:
        """The URL of a path on this server."""
        return f"{self.url}/{path.lstrip('/')}"

    def _fault_key(self, target: str) -> str:
        return target if target == ANY else "/" + target.lstrip("/")

    def _handle(self, handler: Handler) -> None:
        path = urlsplit(handler.path).path
        answer, fault = self._admit(handler, path)
        if not answer:
            return
        document = self._documents.get(path)
        if document is None or handler.command not in ("GET", "HEAD"):
            handler.reply(404 if document is None else 405, b"not found\n")
            return
        extra = list(document.headers)
        if document.status == 200:
            extra.append(("ETag", document.etag))
            inm = handler.headers.get("If-None-Match")
            if inm and etag_matches(inm, document.etag):
                handler.send_raw(304, header_block(extra))
                return
        head = header_block(
            [("Content-Type", document.content_type), ("Content-Length", str(len(document.body))), *extra]
        )
        send_with_fault(handler, document.status, head, document.body, fault)


def _rfc822(moment: datetime) -> str:
    return email.utils.format_datetime(moment.astimezone(UTC), usegmt=True)


def _rss(title: str, description: str, items: Iterable[str]) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0">\n  <channel>\n'
        f"    <title>{xml_escape(title)}</title>\n    <link>https://pypi.org/</link>\n"
        f"    <description>{xml_escape(description)}</description>\n    <language>en</language>\n"
        + "".join(items)
        + "  </channel>\n</rss>\n"
    ).encode()


def _item(title: str, link: str, name: str, published: datetime) -> str:
    return (
        "    <item>\n"
        f"      <title>{xml_escape(title)}</title>\n"
        f"      <link>{xml_escape(link)}</link>\n"
        f"      <description>{xml_escape(name)} is a package</description>\n"
        "      <author>maintainer@example.org</author>\n"
        f"      <pubDate>{_rfc822(published)}</pubDate>\n"
        "    </item>\n"
    )


def _minutes_apart(start: datetime) -> Iterator[datetime]:
    return (start - timedelta(minutes=i) for i in itertools.count())


def rss_updates(items: Sequence[tuple[str, str]], *, now: datetime | None = None) -> bytes:
    """PyPI's ``/rss/updates.xml`` for (name, version) releases, newest first (one minute apart)."""
    start = now or datetime.now(UTC)
    return _rss(
        "PyPI recent updates",
        "Recent updates to the Python Package Index",
        (
            _item(f"{name} {version}", f"https://pypi.org/project/{name}/{version}/", name, moment)
            for moment, (name, version) in zip(_minutes_apart(start), items, strict=False)
        ),
    )


def rss_packages(names: Sequence[str], *, now: datetime | None = None) -> bytes:
    """PyPI's ``/rss/packages.xml`` for newly added project names, newest first (one minute apart)."""
    start = now or datetime.now(UTC)
    return _rss(
        "PyPI newest packages",
        "Newest packages registered at the Python Package Index",
        (
            _item(f"{name} added to PyPI", f"https://pypi.org/project/{name}/", name, moment)
            for moment, name in zip(_minutes_apart(start), names, strict=False)
        ),
    )
