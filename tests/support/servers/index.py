"""The synthetic package index: the simple API (PEP 503 HTML, PEP 691 JSON) with serials, ETags and faults."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping
from urllib.parse import unquote, urlsplit

from tests.support.servers.base import TargetFaults
from tests.support.servers.faults import send_with_fault
from tests.support.servers.handler import Handler, header_block
from tests.support.servers.mutations import CONTROL_MUTATIONS, ReleaseMutations
from tests.support.servers.negotiation import (
    JSON_CONTENT_TYPE,
    PAGE_CONTENT_TYPES,
    TEXT_HTML,
    accepts_gzip,
    etag_matches,
    negotiate,
)
from tests.support.servers.pages import (
    Page,
    Project,
    gzip_etag,
    make_page,
    normalize,
    page_etag,
    render_listing,
    render_project,
    validator_head,
)
from tests.support.servers.recording import ANY, CONTROL_PREFIX, LISTING, Fault

MALFORMED_KINDS = ("json", "html", "content_type", "empty", "schema", "api_version")
"""Kinds accepted by :meth:`IndexServer.malformed`."""

_STREAM_CHUNK = 64 * 1024


class IndexServer(TargetFaults, ReleaseMutations):
    """A synthetic package index serving the simple API at ``{url}/simple/``.

    ``projects`` maps project names (as displayed, e.g. ``"Foo_Bar"``) to version strings; pages are
    served at the normalized path (``/simple/foo-bar/``), other spellings get a 301 to it. Each
    version has a ``.tar.gz`` and a ``-py3-none-any.whl`` file with (fake, well-formed) sha256 hashes
    and relative URLs ``../../files/<filename>`` (files themselves are not served).

    Every change bumps a global serial; each project keeps the serial of its last change, sent as
    ``X-PyPI-Last-Serial`` and as ``meta._last-serial`` (a string, as PyPI does) in JSON. Pages carry
    a strong ETag, known from the serial without rendering the page, and answer a matching
    ``If-None-Match`` with 304 (never rendering the page). Pages are rendered when first asked for and
    cached per (project, content type) until the project changes; ``page_cache`` bounds how many are kept
    (the oldest go first; None: all). The listing is also served gzip-encoded (its own ETag) to clients
    that accept it, as PyPI's is; both forms are rendered once per change of the index.

    Faults are queued per target (a project name, :data:`LISTING` or :data:`ANY`) and consumed one
    request at a time, in the order they were added. :meth:`hold` takes the same targets: a held page is
    answered (faults included) once the test releases the gate.

    Releases also change as on a real index (:class:`~tests.support.servers.mutations.ReleaseMutations`): yanked
    and unyanked, files added, versions and projects removed and restored, a file's sha256 replaced.
    """

    ANY = ANY
    LISTING = LISTING

    def __init__(
        self,
        projects: Mapping[str, Iterable[str]] | None = None,
        *,
        formats: Iterable[str] = ("json", "html"),
        latency: float = 0.0,
        port: int = 0,
        listing_serials: bool = True,
        record: bool = True,
        control: bool = False,
        page_cache: int | None = None,
    ) -> None:
        super().__init__(port, record=record)
        self._lock = threading.RLock()
        self._projects: dict[str, Project] = {}
        self._removed_projects: dict[str, Project] = {}  # kept for restore_project
        self._pages: dict[tuple[str, str], Page] = {}
        self._page_cache = page_cache
        self._serial = 0
        self._modified = time.time()
        self._formats = self._check_formats(formats)
        self._listing_serials = listing_serials
        self.latency = latency
        """Seconds to sleep before every index response (the benchmark's network latency; tests use gates)."""
        self.control = control
        """Whether ``/_control/*`` endpoints are served (the standalone mode turns them on)."""
        for name, versions in (projects or {}).items():
            self.add_project(name, versions)

    # -- model ------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/simple`` (no trailing slash), the index URL to configure."""
        return f"{self.url}/simple"

    def project_url(self, name: str) -> str:
        """The URL of a project's page (normalized, with the trailing slash)."""
        return f"{self.base_url}/{normalize(name)}/"

    @property
    def serial(self) -> int:
        """The global serial (last change of any project)."""
        return self._serial

    def project_serial(self, name: str) -> int:
        """The serial of a project's last change."""
        with self._lock:
            return self._projects[normalize(name)].serial

    def projects(self) -> dict[str, list[str]]:
        """A snapshot of the model: display name -> versions in publication order."""
        with self._lock:
            return {p.name: list(p.versions) for p in self._projects.values()}

    @property
    def formats(self) -> tuple[str, ...]:
        """The formats served: a subset of ``("json", "html")``."""
        return self._formats

    def set_formats(self, *formats: str | Iterable[str]) -> None:
        """Serve only these formats: ``set_formats("html")``, ``set_formats("json", "html")``."""
        flat: list[str] = []
        for item in formats:
            flat.extend([item] if isinstance(item, str) else item)
        self._formats = self._check_formats(flat)

    @staticmethod
    def _check_formats(formats: Iterable[str]) -> tuple[str, ...]:
        result = tuple(formats)
        unknown = set(result) - {"json", "html"}
        if unknown:
            raise ValueError(f"unknown formats: {sorted(unknown)}")
        return result

    @property
    def listing_serials(self) -> bool:
        """Whether the JSON listing carries each project's ``_last-serial``."""
        return self._listing_serials

    @listing_serials.setter
    def listing_serials(self, value: bool) -> None:
        with self._lock:
            self._listing_serials = value
            self._invalidate(LISTING)

    def add_project(self, name: str, versions: Iterable[str] = ()) -> int:
        """Add a project with these versions (one change); return the new serial."""
        key = normalize(name)
        with self._lock:
            if key in self._projects:
                raise ValueError(f"project {name!r} already exists")
            serial = self._bump()
            self._projects[key] = Project(name, dict.fromkeys(versions, serial), serial, self._modified)
            self._invalidate(key)
            return serial

    def publish(self, name: str, version: str) -> int:
        """Publish a new release (creating the project if needed); return the new serial."""
        key = normalize(name)
        with self._lock:
            project = self._projects.get(key)
            if project is not None and version in project.versions:
                raise ValueError(f"{name} {version} is already published")
            serial = self._bump()
            if project is None:
                project = self._projects[key] = Project(name, {}, serial, self._modified)
            project.versions[version] = serial
            project.serial = serial
            project.modified = self._modified
            self._invalidate(key)
            return serial

    def remove_project(self, name: str) -> int:
        """Remove a project (its page then answers 404); return the new serial."""
        key = normalize(name)
        with self._lock:
            if key not in self._projects:
                raise KeyError(name)
            serial = self._bump()
            self._removed_projects[key] = self._projects.pop(key)
            self._invalidate(key)
            return serial

    def _bump(self) -> int:
        self._serial += 1
        self._modified = time.time()
        return self._serial

    def _invalidate(self, key: str) -> None:
        for content_type in PAGE_CONTENT_TYPES:
            self._pages.pop((key, content_type), None)
            self._pages.pop((LISTING, content_type), None)

    def _current(self, key: str, content_type: str) -> tuple[str, int, float] | None:
        """The ETag, serial and modification time of a page as it is now (None: no such project); no rendering."""
        with self._lock:
            if key == LISTING:
                variant = "serials" if self._listing_serials else "names"
                return page_etag(key, content_type, self._serial, variant), self._serial, self._modified
            project = self._projects.get(key)
            if project is None:
                return None
            return page_etag(key, content_type, project.serial), project.serial, project.modified

    def _page(self, key: str, content_type: str) -> Page | None:
        page = self._pages.get((key, content_type))
        if page is not None:
            return page
        with self._lock:
            page = self._pages.get((key, content_type))
            if page is not None:
                return page
            current = self._current(key, content_type)
            if current is None:
                return None
            etag, serial, modified = current
            if key == LISTING:
                body = render_listing(
                    self._projects.values(), content_type, serial=serial, with_serials=self._listing_serials
                )
                page = make_page(body, content_type, serial, modified, etag=etag, compress=True)
            else:
                body = render_project(self._projects[key], content_type, serial=serial)
                page = make_page(body, content_type, serial, modified, etag=etag)
            if self._page_cache is not None and len(self._pages) >= self._page_cache:
                self._pages.pop(next(iter(self._pages)))  # the oldest rendered
            self._pages[(key, content_type)] = page
            return page

    def warm(self, content_types: Iterable[str] = (JSON_CONTENT_TYPE, TEXT_HTML)) -> None:
        """Render and cache the listing and every project page now, in these content types."""
        with self._lock:
            keys = [LISTING, *self._projects]
        for key in keys:
            for content_type in content_types:
                self._page(key, content_type)

    # -- faults -----------------------------------------------------------------------------------

    def _fault_key(self, target: str) -> str:
        return target if target in (ANY, LISTING) else normalize(target)

    def malformed(self, project: str, kind: str, times: int | None = 1) -> None:
        """Serve a broken page (200). Kinds (:data:`MALFORMED_KINDS`).

        ``json``: invalid JSON with the JSON content type; ``html``: garbage with a ``text/html``
        content type; ``content_type``: the right body as ``application/octet-stream``; ``empty``: an
        empty body with the negotiated content type; ``schema``: valid JSON of the wrong shape;
        ``api_version``: the normal page with api-version ``2.0`` (a major version clients must reject).
        """
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"unknown malformed kind {kind!r}; choose from {MALFORMED_KINDS}")
        self._add_fault(project, Fault("malformed", times, malformed=kind))

    def oversize(self, project: str, size_bytes: int, times: int | None = 1, *, chunked: bool = False) -> None:
        """Stream a ``size_bytes`` body (Content-Length, or chunked without one) built chunk by chunk."""
        self._add_fault(project, Fault("oversize", times, size=size_bytes, chunked=chunked))

    def stale(self, project: str, serial: int, times: int | None = 1, *, keep_versions: bool = False) -> None:
        """Serve the page as it was at an older ``serial`` (header, meta and ETag say so).

        The page lists the versions published at or before ``serial`` (all current versions with
        ``keep_versions=True``).
        """
        self._add_fault(project, Fault("stale", times, serial=serial, keep_versions=keep_versions))

    # -- serving ----------------------------------------------------------------------------------

    def _handle(self, handler: Handler) -> None:
        path = urlsplit(handler.path).path
        if path.startswith(CONTROL_PREFIX) and self.control:
            self._handle_control(handler, path)
            return
        if self.latency > 0:
            time.sleep(self.latency)
        if handler.command not in ("GET", "HEAD"):
            handler.reply(405, b"method not allowed\n", [("Allow", "GET, HEAD")])
            return
        if path == "/simple":
            handler.reply(301, b"", [("Location", "/simple/")])
            return
        if path == "/simple/":
            self._serve(handler, LISTING)
            return
        if not path.startswith("/simple/"):
            handler.reply(404, b"not found\n")
            return
        raw = path[len("/simple/") :]
        name = unquote(raw[:-1] if raw.endswith("/") else raw)
        if not name or "/" in name:
            handler.reply(404, b"not found\n")
            return
        key = normalize(name)
        if raw != f"{key}/":
            handler.reply(301, b"", [("Location", f"/simple/{key}/")])
            return
        self._serve(handler, key)

    def _serve(self, handler: Handler, key: str) -> None:
        answer, fault = self._admit(handler, key)
        if not answer:
            return
        content_type = negotiate(handler.headers.get("Accept"), self._formats)
        if content_type is None:
            handler.reply(406, b"not acceptable: this index serves " + ", ".join(self._formats).encode() + b"\n")
            return
        current = self._current(key, content_type)
        if current is None:
            handler.reply(404, b"not found\n")
            return
        etag, serial, modified = current
        packed = key == LISTING and accepts_gzip(handler.headers.get("Accept-Encoding"))
        replaced = fault is not None and (
            fault.kind in ("malformed", "oversize") or (fault.kind == "stale" and key != LISTING)
        )
        inm = handler.headers.get("If-None-Match")
        if not replaced and inm and (etag_matches(inm, etag) or etag_matches(inm, gzip_etag(etag))):
            handler.send_raw(304, validator_head(gzip_etag(etag) if packed else etag, serial, modified))
            return
        page = self._page(key, content_type)
        if page is None:
            handler.reply(404, b"not found\n")
            return
        if fault is not None and fault.kind == "malformed":
            self._serve_malformed(handler, key, content_type, page, fault.malformed)
        elif fault is not None and fault.kind == "oversize":
            self._serve_oversize(handler, content_type, fault)
        elif fault is not None and fault.kind == "stale" and key != LISTING:
            with self._lock:
                project = self._projects[key]
                body = render_project(
                    project, content_type, serial=fault.serial, as_of=None if fault.keep_versions else fault.serial
                )
            variant = "all versions" if fault.keep_versions else ""  # else exactly the page as it was then
            etag = page_etag(key, content_type, fault.serial, variant)
            stale = make_page(body, content_type, fault.serial, project.modified, etag=etag)
            handler.send_raw(200, stale.head_200, stale.body)
        elif packed and page.gzip_body is not None:
            send_with_fault(handler, 200, page.gzip_head_200, page.gzip_body, fault)
        else:
            send_with_fault(handler, 200, page.head_200, page.body, fault)

    def _serve_malformed(self, handler: Handler, key: str, content_type: str, page: Page, kind: str) -> None:
        body, ctype = page.body, content_type
        if kind == "json":
            body = b'{"meta": {"api-version": "1.1"}, "name": "' + key.encode() + b'", "files": [{"filen'
            ctype = JSON_CONTENT_TYPE
        elif kind == "html":
            body = b'<!DOCTYPE html><html><body><h1>Links for <a href="../../files/\x00\xff\xfe<<a <</a></tr>\x01'
            ctype = TEXT_HTML
        elif kind == "content_type":
            ctype = "application/octet-stream"
        elif kind == "empty":
            body = b""
        elif kind == "schema":
            body = json.dumps(
                {"meta": {"api-version": "1.1"}, "name": key, "files": "not-a-list", "versions": 42}
            ).encode()
            ctype = JSON_CONTENT_TYPE
        elif kind == "api_version" and key != LISTING:
            with self._lock:
                project = self._projects[key]
                body = render_project(project, content_type, serial=project.serial, api_version="2.0")
        serial = self.project_serial(key) if key != LISTING else self._serial
        bad = make_page(body, ctype, serial, time.time())
        handler.send_raw(200, bad.head_200, bad.body)

    def _serve_oversize(self, handler: Handler, content_type: str, fault: Fault) -> None:
        prefix = (
            b'{"meta":{"api-version":"1.1"},"name":"x","files":['
            if content_type == JSON_CONTENT_TYPE
            else b"<!DOCTYPE html><html><body>\n"
        )[: fault.size]
        length = ("Transfer-Encoding", "chunked") if fault.chunked else ("Content-Length", str(fault.size))
        handler.send_raw(200, header_block([("Content-Type", content_type), length]))
        if handler.command == "HEAD":
            return
        filler = b" " * _STREAM_CHUNK
        remaining = fault.size
        first = True
        while remaining > 0:
            if handler.server.stopping.is_set():
                handler.close_connection = True
                return
            chunk = prefix if first and prefix else filler[: min(remaining, _STREAM_CHUNK)]
            first = False
            remaining -= len(chunk)
            handler.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if fault.chunked else chunk)
        if fault.chunked:
            handler.write(b"0\r\n\r\n")

    def _handle_control(self, handler: Handler, path: str) -> None:
        if path == "/_control/publish" and handler.command == "POST":
            try:
                releases = handler.record.json()["releases"]
                serials = [self.publish(str(name), str(version)) for name, version in releases]
            except (ValueError, KeyError, TypeError) as error:
                handler.reply_json(400, {"error": str(error)})
                return
            handler.reply_json(200, {"published": len(serials), "serial": self._serial})
        elif path == "/_control/stats" and handler.command == "GET":
            counts = self.status_counts()
            handler.reply_json(
                200,
                {
                    "status_counts": {str(status): count for status, count in sorted(counts.items())},
                    "requests": sum(counts.values()),
                    "bytes_sent": self.bytes_sent,
                    "serial": self._serial,
                    "projects": len(self._projects),
                },
            )
        elif path == "/_control/reset-stats" and handler.command == "POST":
            self.reset_stats()
            handler.reply_json(200, {"ok": True})
        elif path.removeprefix(CONTROL_PREFIX) in CONTROL_MUTATIONS and handler.command == "POST":
            self._control_mutation(handler, path.removeprefix(CONTROL_PREFIX))
        else:
            handler.reply_json(404, {"error": f"no control endpoint {handler.command} {path}"})
