"""Servers on 127.0.0.1 that misbehave on purpose, for the hostile-server tests (issue 10).

:class:`HostileServer` is a raw-socket HTTP/1.1 server: it reads a request, records it and writes whatever
:class:`Reply` its responder returns, byte for byte. Nothing is checked or escaped on the way out, so a reply
can carry a NUL in its reason phrase or in a header, a 30-digit serial, a gzip bomb, or trickle its head one
byte at a time. Every connection is closed after one reply. :class:`Routes` picks the reply by path; the
builders below make the pages, listings, feeds and bombs the tests serve.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
import os
import socket
import socketserver
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "text/html; charset=utf-8"
_MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class Request:
    """One request as it arrived: method, raw target (path and query), lower-cased headers, body."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Reply:
    """A response written as given: the reason phrase and header values may hold any character (latin-1).

    ``trickle`` sends the status line and headers one byte every ``trickle`` seconds (the body then follows
    at once); ``Content-Length`` and ``Connection: close`` are added unless ``raw_headers`` is set.
    """

    status: int = 200
    reason: str = "OK"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    trickle: float | None = None
    raw_headers: bool = False

    def head(self) -> bytes:
        """Return the status line and header block of this reply."""
        lines = [f"HTTP/1.1 {self.status} {self.reason}", *(f"{name}: {value}" for name, value in self.headers)]
        if not self.raw_headers:
            lines += [f"Content-Length: {len(self.body)}", "Connection: close"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


Responder = Callable[[Request], Reply]


def not_found(request: Request) -> Reply:
    """Answer 404 to anything."""
    return Reply(404, "Not Found", (("Content-Type", "text/plain"),), b"not found")


class Routes:
    """Replies by exact request target, ``fallback`` for every other one; changeable while a server runs."""

    def __init__(self, routes: Mapping[str, Reply | Responder] | None = None, fallback: Responder = not_found) -> None:
        self._routes: dict[str, Reply | Responder] = dict(routes or {})
        self.fallback = fallback
        self._lock = threading.Lock()

    def set(self, path: str, reply: Reply | Responder) -> None:
        """Answer requests for ``path`` with ``reply`` from now on."""
        with self._lock:
            self._routes[path] = reply

    def __call__(self, request: Request) -> Reply:
        with self._lock:
            route = self._routes.get(request.path)
        if route is None:
            return self.fallback(request)
        return route if isinstance(route, Reply) else route(request)


class _Handler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        owner = self.server.owner
        connection: socket.socket = self.request
        try:
            if owner.tls is not None:
                connection = owner.tls.wrap_socket(connection, server_side=True)
            request = _read_request(connection)
            if request is None:
                return
            owner.record(request)
            owner.write(connection, owner.responder(request))
        except (OSError, ssl.SSLError):
            return  # the client went away: nothing to answer
        finally:
            with contextlib.suppress(OSError):
                connection.close()


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: HostileServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """Errors of a hostile exchange are expected; say nothing."""


def _read_request(connection: socket.socket) -> Request | None:
    """Read one request (head, and the body its Content-Length announces); None when the client sent none."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk or len(data) > _MAX_HEAD:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, target, *_ = [*request_line.split(" "), "", ""]
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return Request(method, target, headers, body)


class HostileServer:
    """An HTTP server on 127.0.0.1 answering every request with its responder's Reply, written as given."""

    def __init__(self, responder: Responder, *, tls: ssl.SSLContext | None = None) -> None:
        self.responder = responder
        self.tls = tls
        self.stopping = threading.Event()
        self._requests: list[Request] = []
        self._lock = threading.Lock()
        self._server = _TCPServer(self)
        self._thread = threading.Thread(target=self._server.serve_forever, name="hostile-server", daemon=True)

    # -- life cycle ------------------------------------------------------------------------------------------

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; trickling replies give up at their next byte."""
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # -- what it is and what it saw --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    @property
    def paths(self) -> list[str]:
        return [request.path for request in self.requests]

    def record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def write(self, connection: socket.socket, reply: Reply) -> None:
        """Send a reply, its head one byte at a time when it trickles."""
        head = reply.head()
        if reply.trickle is None:
            connection.sendall(head + reply.body)
            return
        for position in range(len(head)):
            if self.stopping.wait(reply.trickle):
                return
            connection.sendall(head[position : position + 1])
        connection.sendall(reply.body)


# -- replies ---------------------------------------------------------------------------------------------------


def ok(body: bytes, content_type: str, *extra: tuple[str, str], trickle: float | None = None) -> Reply:
    """A 200 with a body of the given type and extra headers."""
    return Reply(200, "OK", (("Content-Type", content_type), *extra), body, trickle)


def trickling(seconds: float = 1.0) -> Reply:
    """A 200 whose head arrives one byte every ``seconds`` (far longer in all than any sane request limit)."""
    return Reply(200, "OK", (("Content-Type", "text/plain"), ("X-Padding", "p" * 1000)), b"late", trickle=seconds)


def redirect(location: str, status: int = 302) -> Reply:
    return Reply(status, "Found", (("Location", location),))


# -- simple-API pages ------------------------------------------------------------------------------------------


def json_page(name: str, versions: Iterable[str], *, with_files: bool = True) -> bytes:
    """A PEP 691 project page with a PEP 700 ``versions`` list (and one sdist per version)."""
    listed = list(versions)
    files = (
        [
            {"filename": f"{name}-{version}.tar.gz", "url": f"{name}-{version}.tar.gz", "hashes": {}}
            for version in listed
        ]
        if with_files
        else []
    )
    document = {"meta": {"api-version": "1.1"}, "name": name, "versions": listed, "files": files}
    return json.dumps(document).encode()


def json_listing(names: Iterable[str]) -> bytes:
    """A PEP 691 project listing (no serials)."""
    document = {"meta": {"api-version": "1.1"}, "projects": [{"name": name} for name in names]}
    return json.dumps(document).encode()


def html_anchors(name: str, count: int) -> bytes:
    """A PEP 503 project page with ``count`` anchors, one distinct sdist each."""
    anchors = "".join(f'<a href="{name}-1.0.{i}.tar.gz">{name}-1.0.{i}.tar.gz</a>\n' for i in range(count))
    return f"<!DOCTYPE html><html><body>\n{anchors}</body></html>\n".encode()


_BOMB_MEMBER = 64 * 1024 * 1024


@functools.lru_cache(maxsize=8)
def _gzip_member(decompressed_bytes: int, fill: bytes) -> bytes:
    block = fill * (1024 * 1024)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip container
    parts = [compressor.compress(block) for _ in range(decompressed_bytes // len(block))]
    parts.append(compressor.compress(fill * (decompressed_bytes % len(block))))
    parts.append(compressor.flush())
    return b"".join(parts)


def gzip_bomb(decompressed_bytes: int, fill: bytes = b" ") -> bytes:
    """Gzip data about 1,000 times smaller than the ``decompressed_bytes`` of ``fill`` it inflates to.

    Large bombs are several gzip members one after the other (valid gzip, RFC 1952), which is much faster to
    build than one member.
    """
    whole, rest = divmod(decompressed_bytes, _BOMB_MEMBER)
    members = [_gzip_member(_BOMB_MEMBER, fill)] * whole
    if rest:
        members.append(_gzip_member(rest, fill))
    return b"".join(members)


def gzipped(body: bytes) -> bytes:
    return gzip.compress(body, 6)


def bomb_reply(decompressed_bytes: int, content_type: str = JSON_TYPE) -> Reply:
    """A 200 announcing a small gzip body that decompresses to ``decompressed_bytes`` of blanks."""
    return ok(gzip_bomb(decompressed_bytes), content_type, ("Content-Encoding", "gzip"))


@dataclass
class Index:
    """A PEP 691 index: a listing at ``/simple/`` and one page per project; any reply can be overridden.

    ``listed`` are the names the listing gives (default: the projects); ``page_headers`` are added to the
    pages of the named projects.
    """

    projects: dict[str, list[str]]
    listed: list[str] | None = None
    page_headers: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    fallback: Responder = not_found

    def routes(self) -> Routes:
        """The routes serving this index (taken at call time; later changes go through Routes.set)."""
        names = self.projects if self.listed is None else self.listed
        table: dict[str, Reply | Responder] = {"/simple/": ok(json_listing(names), JSON_TYPE)}
        for name, versions in self.projects.items():
            extra = self.page_headers.get(name, ())
            table[f"/simple/{name}/"] = ok(json_page(name, versions), JSON_TYPE, *extra)
        return Routes(table, self.fallback)


def any_project(request: Request) -> Reply:
    """Answer any request with a project page of version 6.6.6: whatever the job asks for, it gets a release."""
    return ok(json_page("anything", ["6.6.6"]), JSON_TYPE)


# -- feeds and configurations ------------------------------------------------------------------------------------


def rss(items: Sequence[tuple[str, str]]) -> bytes:
    """An ``updates.xml``-like RSS document: one item per (name, version)."""
    entries = "".join(
        f"<item><title>{name} {version}</title><link>https://pypi.org/project/{name}/{version}/</link>"
        "<pubDate>Mon, 01 Dec 2025 10:00:00 GMT</pubDate></item>"
        for name, version in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>updates</title>'
        f"<link>https://pypi.org/</link><description>new releases</description>{entries}</channel></rss>"
    ).encode()


# -- processes ------------------------------------------------------------------------------------------------


def peak_rss_kib(pid: int) -> int | None:
    """The peak resident set size (VmHWM) of a running process, in KiB; None once it has ended."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def processes_using(path: str) -> list[int]:
    """The ids of the processes whose command line mentions ``path`` (a data folder, say)."""
    found = []
    for entry in _proc_entries():
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                if path.encode() in cmdline.read():
                    found.append(entry)
        except OSError:
            continue
    return found


def _proc_entries() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
