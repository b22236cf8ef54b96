"""Real local HTTP servers for end-to-end tests, fault tests and the benchmark.

Four servers, all bound to 127.0.0.1 and served from a daemon thread by a
:class:`http.server.ThreadingHTTPServer` speaking HTTP/1.1 with keep-alive:

* :class:`IndexServer` - a synthetic Python package index (PEP 503 HTML, PEP 691 JSON) with
  serials, ETags, conditional requests and per-project fault injection;
* :class:`FeedServer` - static documents (PyPI-style RSS built by :func:`rss_updates` and
  :func:`rss_packages`);
* :class:`WebhookReceiver` - records deliveries and answers with scripted statuses;
* :class:`PushGatewayStandIn` - records Prometheus push-gateway pushes.

Every server records the requests it receives (``.requests``), counts response statuses and bytes
sent, can be stopped and started again on the same port (to simulate an outage), and is a context
manager. Nothing here talks to any host but 127.0.0.1.

The index server also runs as a process of its own for the benchmark::

    python -m tests.support.servers index --projects 10000 --versions 30 --latency-ms 0 --port 0

It prints its base URL (``http://127.0.0.1:PORT/simple``) as the first line of stdout, serves until
SIGTERM/SIGINT, and answers ``POST /_control/publish``, ``GET /_control/stats`` and
``POST /_control/reset-stats``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import email.utils
import gzip
import hashlib
import html
import json
import re
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, Self
from urllib.parse import unquote, unquote_plus, urlsplit
from xml.sax.saxutils import escape as xml_escape

__all__ = [
    "ANY",
    "HTML_CONTENT_TYPE",
    "JSON_CONTENT_TYPE",
    "LISTING",
    "MALFORMED_KINDS",
    "TEXT_HTML",
    "Fault",
    "FeedServer",
    "Headers",
    "IndexServer",
    "Push",
    "PushGatewayStandIn",
    "RecordedRequest",
    "WebhookReceiver",
    "main",
    "negotiate",
    "normalize",
    "rss_packages",
    "rss_updates",
    "synthetic_projects",
]

HOST = "127.0.0.1"

JSON_CONTENT_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_CONTENT_TYPE = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"
_JSON_ALIASES = (JSON_CONTENT_TYPE, "application/vnd.pypi.simple.latest+json")
_HTML_ALIASES = (HTML_CONTENT_TYPE, "application/vnd.pypi.simple.latest+html")
_PAGE_CONTENT_TYPES = (JSON_CONTENT_TYPE, HTML_CONTENT_TYPE, TEXT_HTML)

ANY = "*"
"""Fault target matching every page a server serves (after any target-specific fault)."""
LISTING = "/"
"""Fault target of the index's project listing (``/simple/``)."""

MALFORMED_KINDS = ("json", "html", "content_type", "empty", "schema", "api_version")
"""Kinds accepted by :meth:`IndexServer.malformed`."""

UPLOAD_TIME = "2024-01-01T00:00:00.000000Z"
_CONTROL_PREFIX = "/_control/"
_NORMALIZE = re.compile(r"[-_.]+")
_STREAM_CHUNK = 64 * 1024


def normalize(name: str) -> str:
    """Return the PEP 503 normalized form of a project name."""
    return _NORMALIZE.sub("-", name).lower()


def synthetic_projects(count: int, versions: int) -> dict[str, list[str]]:
    """Return ``count`` projects ``pkg-00001``... with ``versions`` versions ``1.0.0``, ``1.0.1``... each."""
    return {f"pkg-{i:05d}": [f"1.{v // 10}.{v % 10}" for v in range(versions)] for i in range(1, count + 1)}


# --------------------------------------------------------------------------------------------------
# Recording


class Headers(dict[str, str]):
    """Request headers as a plain dict keyed by lower-case name; item lookups ignore case.

    Repeated headers are joined with ``", "``.
    """

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__()
        for name, value in items:
            key = name.lower()
            dict.__setitem__(self, key, f"{dict.__getitem__(self, key)}, {value}" if key in self else value)

    def __getitem__(self, key: str) -> str:
        return dict.__getitem__(self, key.lower())

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key.lower() if isinstance(key, str) else key)

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value of a header (any case) or ``default``."""
        return dict.get(self, key.lower(), default)


@dataclass
class RecordedRequest:
    """One request a server received.

    ``status`` is ``None`` while the request is being handled, the status of the response once its
    head has been sent, and ``0`` when the connection was dropped without a response.
    """

    method: str
    path: str
    headers: Headers
    body: bytes
    status: int | None = None

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class Fault:
    """A fault to inject into the next ``times`` responses of a target (``None``: until cleared)."""

    kind: str
    times: int | None = 1
    status: int = 503
    retry_after: str | None = None
    seconds: float = 0.0
    bytes_per_write: int = 1
    malformed: str = ""
    size: int = 0
    chunked: bool = False
    serial: int = 0
    keep_versions: bool = False


# --------------------------------------------------------------------------------------------------
# HTTP plumbing shared by all servers

_date_cache: list[Any] = [0, ""]


def _http_date() -> str:
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[1] = email.utils.formatdate(now, usegmt=True)
        _date_cache[0] = now
    return str(_date_cache[1])


def _header_block(headers: Iterable[tuple[str, str]]) -> bytes:
    return "".join(f"{name}: {value}\r\n" for name, value in headers).encode("latin-1")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # never wait for keep-alive connections on close
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, port: int, owner: _BaseServer) -> None:
        self.owner = owner
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__((HOST, port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() resolves the host name (getfqdn), which can be slow: skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name = HOST
        self.server_port = self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # the client went away, stop() closed the socket, ...
            return
        self.owner.errors.append(repr(error))
        super().handle_error(request, client_address)

    def drop_connections(self) -> None:
        """Shut down every open (keep-alive) connection so that handler threads end."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "thoth-test-server/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 300  # idle keep-alive connections
    server: _HTTPServer
    record: RecordedRequest
    counted: bool = True

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def do_GET(self) -> None:
        """Hand every request to the owning server."""
        self.server.owner._dispatch(self)

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    # -- reading --------------------------------------------------------------------------------

    def read_body(self) -> bytes:
        """Read the request body (Content-Length or chunked)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline(65537).split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # -- writing --------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Write bytes to the client and count them."""
        self.wfile.write(data)
        if self.counted:
            self.server.owner._count_bytes(len(data))

    def send_raw(self, status: int, headers: bytes, body: bytes = b"", *, connection_header: bool = True) -> None:
        """Send a whole response in one write: status line, common headers, ``headers``, body."""
        self.record.status = status
        if self.counted:
            self.server.owner._count_status(status)
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        connection = b""
        if connection_header:
            if self.close_connection:
                connection = b"Connection: close\r\n"
            elif self.request_version == "HTTP/1.0":
                connection = b"Connection: keep-alive\r\n"
        head = (
            f"HTTP/1.1 {status} {reason}\r\nServer: {self.server_version}\r\nDate: {_http_date()}\r\n".encode("latin-1")
            + headers
            + connection
            + b"\r\n"
        )
        self.write(head if self.command == "HEAD" or not body else head + body)

    def reply(
        self,
        status: int,
        body: bytes = b"",
        headers: Sequence[tuple[str, str]] = (),
        content_type: str | None = "text/plain; charset=utf-8",
    ) -> None:
        """Send a response with a complete body and the right Content-Length."""
        lines = list(headers)
        if status not in (204, 304) and status >= 200:
            if content_type is not None:
                lines.append(("Content-Type", content_type))
            lines.append(("Content-Length", str(len(body))))
        self.send_raw(status, _header_block(lines), body)

    def reply_json(self, status: int, value: Any) -> None:
        """Send a JSON response."""
        self.reply(status, json.dumps(value).encode(), content_type="application/json")

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; return True when the server is being stopped meanwhile."""
        return self.server.stopping.wait(seconds) if seconds > 0 else self.server.stopping.is_set()

    def abort(self) -> None:
        """Close the connection abruptly (TCP RST), without any response."""
        self.record.status = 0
        if self.counted:
            self.server.owner._count_status(0)
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The buffered reader holds a reference to the socket: release it so close() really closes.
        self.rfile.close()
        self.connection.close()


class _BaseServer:
    """What every server here has: lifecycle, request log, status/bytes counters, fault queues."""

    def __init__(self, port: int = 0, *, record: bool = True) -> None:
        self._port = port
        self._record = record
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lifecycle = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._requests_changed = threading.Condition()
        self._stats_lock = threading.Lock()
        self._status_counts: Counter[int] = Counter()
        self._bytes_sent = 0
        self._faults: dict[str, deque[Fault]] = {}
        self._faults_lock = threading.Lock()
        self.errors: list[str] = []
        """Unexpected handler exceptions (``repr``), for tests to assert on."""

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving (on the same port as before after a :meth:`stop`); return ``self``."""
        with self._lifecycle:
            if self._httpd is not None:
                return self
            httpd = self._bind()
            self._port = httpd.server_address[1]
            thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"{type(self).__name__}:{self._port}",
                daemon=True,
            )
            thread.start()
            self._httpd, self._thread = httpd, thread
            return self

    def _bind(self) -> _HTTPServer:
        deadline = time.monotonic() + 5.0
        while True:
            try:
                return _HTTPServer(self._port, self)
            except OSError as error:  # the port of a restarted server may take a moment to free
                if self._port == 0 or time.monotonic() > deadline:
                    raise RuntimeError(f"cannot bind {HOST}:{self._port}: {error}") from error
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop serving: close the listening socket and every open connection, end pending waits."""
        with self._lifecycle:
            httpd, thread = self._httpd, self._thread
            self._httpd = self._thread = None
        if httpd is None:
            return
        httpd.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        httpd.drop_connections()
        if thread is not None:
            thread.join(5.0)

    def down(self) -> None:
        """Simulate an outage: :meth:`stop` (connections are refused until :meth:`up`)."""
        self.stop()

    def up(self) -> Self:
        """End an outage: :meth:`start` again on the same port."""
        return self.start()

    @property
    def running(self) -> bool:
        """Whether the server is accepting connections."""
        return self._httpd is not None

    @property
    def port(self) -> int:
        """The TCP port (stays the same across stop/start)."""
        if self._port == 0:
            raise RuntimeError("the server has not been started yet")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # -- request log ------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the recorded requests, oldest first."""
        with self._requests_changed:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._requests_changed:
            self._requests.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until at least ``count`` recorded requests have been answered (or dropped)."""
        with self._requests_changed:
            return self._requests_changed.wait_for(
                lambda: sum(1 for r in self._requests if r.status is not None) >= count, timeout
            )

    # -- counters ---------------------------------------------------------------------------------

    def status_counts(self) -> dict[int, int]:
        """Responses sent per status (``0``: connections dropped without a response)."""
        with self._stats_lock:
            return dict(self._status_counts)

    @property
    def bytes_sent(self) -> int:
        """Bytes written to clients (heads and bodies)."""
        with self._stats_lock:
            return self._bytes_sent

    def reset_stats(self) -> None:
        """Zero the status and byte counters."""
        with self._stats_lock:
            self._status_counts.clear()
            self._bytes_sent = 0

    def _count_status(self, status: int) -> None:
        with self._stats_lock:
            self._status_counts[status] += 1

    def _count_bytes(self, count: int) -> None:
        with self._stats_lock:
            self._bytes_sent += count

    # -- faults -----------------------------------------------------------------------------------

    def _fault_key(self, target: str) -> str:
        return target

    def _add_fault(self, target: str, fault: Fault) -> None:
        if fault.times is not None and fault.times <= 0:
            return
        with self._faults_lock:
            self._faults.setdefault(self._fault_key(target), deque()).append(fault)

    def _take_fault(self, key: str) -> Fault | None:
        if not self._faults:
            return None
        with self._faults_lock:
            for candidate in (key, ANY):
                queue = self._faults.get(candidate)
                if queue:
                    fault = queue[0]
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            queue.popleft()
                    return fault
        return None

    def pending_faults(self, target: str) -> list[Fault]:
        """The faults still queued for a target, next first."""
        with self._faults_lock:
            return list(self._faults.get(self._fault_key(target), ()))

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._faults_lock:
            self._faults.clear()

    def _early_fault(self, handler: _Handler, fault: Fault | None) -> bool:
        """Apply a fault that replaces the response; return True when the request is done."""
        if fault is None:
            return False
        if fault.kind == "fail":
            headers = [("Retry-After", fault.retry_after)] if fault.retry_after is not None else []
            handler.reply(fault.status, f"injected failure {fault.status}\n".encode(), headers)
            return True
        if fault.kind == "reset":
            handler.abort()
            return True
        if fault.kind == "hang" and handler.wait(fault.seconds):
            handler.abort()
            return True
        return False

    def _send_with_fault(
        self, handler: _Handler, status: int, headers: bytes, body: bytes, fault: Fault | None
    ) -> None:
        """Send a complete response, truncated or trickled when the fault says so."""
        kind = fault.kind if fault is not None else ""
        if handler.command == "HEAD" or kind not in ("truncate", "trickle"):
            handler.send_raw(status, headers, body)
            return
        assert fault is not None
        handler.send_raw(status, headers, connection_header=False)
        if kind == "truncate":
            handler.write(body[: len(body) // 2])
            handler.close_connection = True
            return
        step = max(1, fault.bytes_per_write)
        for offset in range(0, len(body), step):
            if handler.wait(fault.seconds * step):
                handler.close_connection = True
                return
            handler.write(body[offset : offset + step])

    # -- dispatch ---------------------------------------------------------------------------------

    def _dispatch(self, handler: _Handler) -> None:
        handler.counted = not handler.path.startswith(_CONTROL_PREFIX)
        try:
            body = handler.read_body()
        except ValueError:
            handler.record = RecordedRequest(handler.command, handler.path, Headers(handler.headers.items()), b"")
            handler.close_connection = True
            handler.reply(400, b"bad request body\n")
            return
        record = RecordedRequest(handler.command, handler.path, Headers(handler.headers.items()), body)
        handler.record = record
        keep = self._record and handler.counted
        if keep:
            with self._requests_changed:
                self._requests.append(record)
        try:
            self._handle(handler)
        finally:
            if record.status is None:
                record.status = 0
                if handler.counted:
                    self._count_status(0)
                handler.close_connection = True
            if keep:
                with self._requests_changed:
                    self._requests_changed.notify_all()

    def _handle(self, handler: _Handler) -> None:
        raise NotImplementedError


# --------------------------------------------------------------------------------------------------
# The package index


@dataclass
class _Project:
    name: str
    versions: dict[str, int]  # version -> serial it was published at, in publication order
    serial: int
    modified: float


@dataclass(frozen=True)
class _Page:
    body: bytes
    etag: str
    head_200: bytes
    head_304: bytes


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


def _etag_matches(if_none_match: str, etag: str) -> bool:
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


def _file_entries(name: str, version: str) -> list[tuple[str, str, int]]:
    """(filename, sha256, size) of the two files of a release."""
    wheel_name = _NORMALIZE.sub("_", name)
    entries = []
    for filename in (f"{name}-{version}.tar.gz", f"{wheel_name}-{version}-py3-none-any.whl"):
        digest = hashlib.sha256(filename.encode()).hexdigest()
        entries.append((filename, digest, 1024 + int(digest[:4], 16)))
    return entries


def _json_file(filename: str, digest: str, size: int) -> str:
    # Hand-assembled (json.dumps only for the strings): ~3x faster than dumping a dict per file.
    return (
        f'{{"filename":{json.dumps(filename)},"url":{json.dumps("../../files/" + filename)},'
        f'"hashes":{{"sha256":"{digest}"}},"requires-python":null,"yanked":false,"size":{size},'
        f'"upload-time":"{UPLOAD_TIME}"}}'
    )


def _render_project(
    project: _Project, content_type: str, *, serial: int, as_of: int | None = None, api_version: str = "1.1"
) -> bytes:
    versions = [v for v, s in project.versions.items() if as_of is None or s <= as_of]
    if content_type == JSON_CONTENT_TYPE:
        files = ",".join(
            _json_file(filename, digest, size)
            for version in versions
            for filename, digest, size in _file_entries(project.name, version)
        )
        return (
            f'{{"meta":{{"api-version":{json.dumps(api_version)},"_last-serial":"{serial}"}},'
            f'"name":{json.dumps(normalize(project.name))},"versions":{json.dumps(versions)},"files":[{files}]}}'
        ).encode()
    title = html.escape(project.name)
    links = "".join(
        f'<a href="../../files/{html.escape(filename)}#sha256={digest}">{html.escape(filename)}</a><br/>\n'
        for version in versions
        for filename, digest, _ in _file_entries(project.name, version)
    )
    return (
        f'<!DOCTYPE html>\n<html>\n<head>\n<meta name="pypi:repository-version" content="{api_version}">\n'
        f"<title>Links for {title}</title>\n</head>\n<body>\n<h1>Links for {title}</h1>\n{links}</body>\n</html>\n"
    ).encode()


def _render_listing(projects: Iterable[_Project], content_type: str, *, serial: int, with_serials: bool) -> bytes:
    if content_type == JSON_CONTENT_TYPE:
        entries = [{"name": p.name, "_last-serial": p.serial} if with_serials else {"name": p.name} for p in projects]
        document = {"meta": {"api-version": "1.1", "_last-serial": str(serial)}, "projects": entries}
        return json.dumps(document, separators=(",", ":")).encode()
    links = "".join(f'<a href="/simple/{normalize(p.name)}/">{html.escape(p.name)}</a><br/>\n' for p in projects)
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta name="pypi:repository-version" content="1.1">\n'
        f"<title>Simple index</title>\n</head>\n<body>\n{links}</body>\n</html>\n"
    ).encode()


def _make_page(body: bytes, content_type: str, serial: int, modified: float) -> _Page:
    digest = hashlib.sha1(body + content_type.encode() + str(serial).encode(), usedforsecurity=False).hexdigest()
    etag = f'"{digest}"'
    common = [
        ("ETag", etag),
        ("X-PyPI-Last-Serial", str(serial)),
        ("Last-Modified", email.utils.formatdate(modified, usegmt=True)),
        ("Vary", "Accept"),
    ]
    head_200 = _header_block([("Content-Type", content_type), ("Content-Length", str(len(body))), *common])
    return _Page(body, etag, head_200, _header_block(common))


class IndexServer(_BaseServer):
    """A synthetic package index serving the simple API at ``{url}/simple/``.

    ``projects`` maps project names (as displayed, e.g. ``"Foo_Bar"``) to version strings; pages are
    served at the normalized path (``/simple/foo-bar/``), other spellings get a 301 to it. Each
    version has a ``.tar.gz`` and a ``-py3-none-any.whl`` file with (fake, well-formed) sha256 hashes
    and relative URLs ``../../files/<filename>`` (files themselves are not served).

    Every change bumps a global serial; each project keeps the serial of its last change, sent as
    ``X-PyPI-Last-Serial`` and as ``meta._last-serial`` (a string, as PyPI does) in JSON. Pages carry
    a strong ETag and answer a matching ``If-None-Match`` with 304. Pages are rendered once per
    (project, content type) and cached until the project changes.

    Faults are queued per target (a project name, :data:`LISTING` or :data:`ANY`) and consumed one
    request at a time, in the order they were added.
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
    ) -> None:
        super().__init__(port, record=record)
        self._lock = threading.RLock()
        self._projects: dict[str, _Project] = {}
        self._pages: dict[tuple[str, str], _Page] = {}
        self._serial = 0
        self._modified = time.time()
        self._formats = self._check_formats(formats)
        self._listing_serials = listing_serials
        self.latency = latency
        """Seconds to sleep before every index response."""
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
            self._projects[key] = _Project(name, dict.fromkeys(versions, serial), serial, self._modified)
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
                project = self._projects[key] = _Project(name, {}, serial, self._modified)
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
            del self._projects[key]
            self._invalidate(key)
            return serial

    def _bump(self) -> int:
        self._serial += 1
        self._modified = time.time()
        return self._serial

    def _invalidate(self, key: str) -> None:
        for content_type in _PAGE_CONTENT_TYPES:
            self._pages.pop((key, content_type), None)
            self._pages.pop((LISTING, content_type), None)

    def _page(self, key: str, content_type: str) -> _Page | None:
        page = self._pages.get((key, content_type))
        if page is not None:
            return page
        with self._lock:
            page = self._pages.get((key, content_type))
            if page is not None:
                return page
            if key == LISTING:
                body = _render_listing(
                    self._projects.values(), content_type, serial=self._serial, with_serials=self._listing_serials
                )
                page = _make_page(body, content_type, self._serial, self._modified)
            else:
                project = self._projects.get(key)
                if project is None:
                    return None
                body = _render_project(project, content_type, serial=project.serial)
                page = _make_page(body, content_type, project.serial, project.modified)
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

    def fail(self, project: str, status: int = 503, times: int | None = 1, retry_after: str | None = None) -> None:
        """Answer the next ``times`` requests for the project with ``status`` (and ``Retry-After``)."""
        self._add_fault(project, Fault("fail", times, status=status, retry_after=retry_after))

    def reset(self, project: str, times: int | None = 1) -> None:
        """Close the connection with a TCP RST, without any response, on the next ``times`` requests."""
        self._add_fault(project, Fault("reset", times))

    def hang(self, project: str, seconds: float, times: int | None = 1) -> None:
        """Wait ``seconds`` before responding (normally) to the next ``times`` requests."""
        self._add_fault(project, Fault("hang", times, seconds=seconds))

    def trickle(
        self, project: str, seconds_per_byte: float = 0.05, times: int | None = 1, bytes_per_write: int = 1
    ) -> None:
        """Send the head at once, then the body ``bytes_per_write`` bytes at a time, ``seconds_per_byte`` apart."""
        self._add_fault(project, Fault("trickle", times, seconds=seconds_per_byte, bytes_per_write=bytes_per_write))

    def truncate(self, project: str, times: int | None = 1) -> None:
        """Announce the full Content-Length, send half of the body, close the connection."""
        self._add_fault(project, Fault("truncate", times))

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

    def _handle(self, handler: _Handler) -> None:
        path = urlsplit(handler.path).path
        if path.startswith(_CONTROL_PREFIX) and self.control:
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

    def _serve(self, handler: _Handler, key: str) -> None:
        fault = self._take_fault(key)
        if self._early_fault(handler, fault):
            return
        content_type = negotiate(handler.headers.get("Accept"), self._formats)
        if content_type is None:
            handler.reply(406, b"not acceptable: this index serves " + ", ".join(self._formats).encode() + b"\n")
            return
        page = self._page(key, content_type)
        if page is None:
            handler.reply(404, b"not found\n")
            return
        kind = fault.kind if fault is not None else ""
        if kind == "malformed":
            assert fault is not None
            self._serve_malformed(handler, key, content_type, page, fault.malformed)
        elif kind == "oversize":
            assert fault is not None
            self._serve_oversize(handler, content_type, fault)
        elif kind == "stale" and key != LISTING:
            assert fault is not None
            with self._lock:
                project = self._projects[key]
                body = _render_project(
                    project, content_type, serial=fault.serial, as_of=None if fault.keep_versions else fault.serial
                )
            stale = _make_page(body, content_type, fault.serial, project.modified)
            handler.send_raw(200, stale.head_200, stale.body)
        elif (inm := handler.headers.get("If-None-Match")) and _etag_matches(inm, page.etag):
            handler.send_raw(304, page.head_304)
        else:
            self._send_with_fault(handler, 200, page.head_200, page.body, fault)

    def _serve_malformed(self, handler: _Handler, key: str, content_type: str, page: _Page, kind: str) -> None:
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
                body = _render_project(project, content_type, serial=project.serial, api_version="2.0")
        serial = self.project_serial(key) if key != LISTING else self._serial
        bad = _make_page(body, ctype, serial, time.time())
        handler.send_raw(200, bad.head_200, bad.body)

    def _serve_oversize(self, handler: _Handler, content_type: str, fault: Fault) -> None:
        prefix = (
            b'{"meta":{"api-version":"1.1"},"name":"x","files":['
            if content_type == JSON_CONTENT_TYPE
            else b"<!DOCTYPE html><html><body>\n"
        )[: fault.size]
        length = ("Transfer-Encoding", "chunked") if fault.chunked else ("Content-Length", str(fault.size))
        handler.send_raw(200, _header_block([("Content-Type", content_type), length]))
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

    def _handle_control(self, handler: _Handler, path: str) -> None:
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
        else:
            handler.reply_json(404, {"error": f"no control endpoint {handler.command} {path}"})


# --------------------------------------------------------------------------------------------------
# RSS feeds


@dataclass(frozen=True)
class _Document:
    body: bytes
    content_type: str
    status: int
    etag: str
    headers: tuple[tuple[str, str], ...]


class FeedServer(_BaseServer):
    """Serves documents set by the test at exact paths (query strings ignored); other paths: 404.

    Documents with status 200 carry an ``ETag`` and answer a matching ``If-None-Match`` with 304.
    ``fail``/``reset``/``hang``/``trickle``/``truncate`` take a path (or :data:`ANY`).
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

    def fail(self, path: str, status: int = 503, times: int | None = 1, retry_after: str | None = None) -> None:
        """Answer the next ``times`` requests for ``path`` with ``status``."""
        self._add_fault(path, Fault("fail", times, status=status, retry_after=retry_after))

    def reset(self, path: str, times: int | None = 1) -> None:
        """Close the connection with a TCP RST, without any response."""
        self._add_fault(path, Fault("reset", times))

    def hang(self, path: str, seconds: float, times: int | None = 1) -> None:
        """Wait ``seconds`` before responding."""
        self._add_fault(path, Fault("hang", times, seconds=seconds))

    def trickle(
        self, path: str, seconds_per_byte: float = 0.05, times: int | None = 1, bytes_per_write: int = 1
    ) -> None:
        """Send the body slowly."""
        self._add_fault(path, Fault("trickle", times, seconds=seconds_per_byte, bytes_per_write=bytes_per_write))

    def truncate(self, path: str, times: int | None = 1) -> None:
        """Announce the full Content-Length, send half of the body, close the connection."""
        self._add_fault(path, Fault("truncate", times))

    def _handle(self, handler: _Handler) -> None:
        path = urlsplit(handler.path).path
        fault = self._take_fault(path)
        if self._early_fault(handler, fault):
            return
        document = self._documents.get(path)
        if document is None or handler.command not in ("GET", "HEAD"):
            handler.reply(404 if document is None else 405, b"not found\n")
            return
        extra = list(document.headers)
        if document.status == 200:
            extra.append(("ETag", document.etag))
            inm = handler.headers.get("If-None-Match")
            if inm and _etag_matches(inm, document.etag):
                handler.send_raw(304, _header_block(extra))
                return
        head = _header_block(
            [("Content-Type", document.content_type), ("Content-Length", str(len(document.body))), *extra]
        )
        self._send_with_fault(handler, document.status, head, document.body, fault)


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


def rss_updates(items: Sequence[tuple[str, str]], *, now: datetime | None = None) -> bytes:
    """PyPI's ``/rss/updates.xml`` for (name, version) releases, newest first (one minute apart)."""
    start = now or datetime.now(UTC)
    return _rss(
        "PyPI recent updates",
        "Recent updates to the Python Package Index",
        (
            "    <item>\n"
            f"      <title>{xml_escape(name)} {xml_escape(version)}</title>\n"
            f"      <link>https://pypi.org/project/{xml_escape(name)}/{xml_escape(version)}/</link>\n"
            f"      <description>{xml_escape(name)} is a package</description>\n"
            "      <author>maintainer@example.org</author>\n"
            f"      <pubDate>{_rfc822(start - timedelta(minutes=i))}</pubDate>\n"
            "    </item>\n"
            for i, (name, version) in enumerate(items)
        ),
    )


def rss_packages(names: Sequence[str], *, now: datetime | None = None) -> bytes:
    """PyPI's ``/rss/packages.xml`` for newly added project names, newest first (one minute apart)."""
    start = now or datetime.now(UTC)
    return _rss(
        "PyPI newest packages",
        "Newest packages registered at the Python Package Index",
        (
            "    <item>\n"
            f"      <title>{xml_escape(name)} added to PyPI</title>\n"
            f"      <link>https://pypi.org/project/{xml_escape(name)}/</link>\n"
            f"      <description>{xml_escape(name)} is a package</description>\n"
            "      <author>maintainer@example.org</author>\n"
            f"      <pubDate>{_rfc822(start - timedelta(minutes=i))}</pubDate>\n"
            "    </item>\n"
            for i, name in enumerate(names)
        ),
    )


# --------------------------------------------------------------------------------------------------
# Webhooks


class WebhookReceiver(_BaseServer):
    """Records every request (any method, any path) and answers with scripted statuses.

    Statuses queued with :meth:`respond_with` are used first, one per request; then
    ``default_status``. :meth:`stop`/:meth:`start` simulate the receiver being down.
    """

    ANY = ANY

    def __init__(self, port: int = 0, *, default_status: int = 200) -> None:
        super().__init__(port)
        self.default_status = default_status
        """The status answered when no scripted status is queued."""
        self._statuses: deque[int] = deque()
        self._delay = 0.0
        self._script_lock = threading.Lock()

    def respond_with(self, statuses: Iterable[int]) -> None:
        """Answer the next requests with these statuses, in order (replacing any queued ones)."""
        with self._script_lock:
            self._statuses = deque(statuses)

    def delay(self, seconds: float) -> None:
        """Wait ``seconds`` before answering every following request (0 to stop delaying)."""
        self._delay = seconds

    def reset(self, times: int | None = 1, path: str = ANY) -> None:
        """Drop the next ``times`` connections with a TCP RST instead of answering."""
        self._add_fault(path, Fault("reset", times))

    def json_bodies(self) -> list[Any]:
        """The bodies of the recorded requests, parsed as JSON."""
        return [r.json() for r in self.requests]

    def _handle(self, handler: _Handler) -> None:
        fault = self._take_fault(urlsplit(handler.path).path)
        if self._early_fault(handler, fault):
            return
        if self._delay > 0 and handler.wait(self._delay):
            handler.abort()
            return
        with self._script_lock:
            status = self._statuses.popleft() if self._statuses else self.default_status
        handler.reply_json(status, {"ok": 200 <= status < 300, "status": status})


# --------------------------------------------------------------------------------------------------
# Prometheus push gateway


@dataclass(frozen=True)
class Push:
    """One push received by :class:`PushGatewayStandIn`."""

    method: str
    path: str
    job: str
    labels: dict[str, str]
    body: str
    status: int


def _decode_label(key: str, value: str) -> tuple[str, str]:
    if key.endswith("@base64"):
        padded = value + "=" * (-len(value) % 4)
        try:
            decoded = base64.urlsafe_b64decode(padded).decode("utf-8") if value != "=" else ""
        except (binascii.Error, UnicodeDecodeError):
            decoded = value
        return key.removesuffix("@base64"), decoded
    return key, unquote_plus(value)


class PushGatewayStandIn(_BaseServer):
    """Accepts pushes on ``/metrics/job/<job>[/<label>/<value>...]`` (``@base64`` forms decoded).

    PUT and POST answer 200, DELETE 202 - or the status set with :meth:`respond_with`. Other paths
    answer 404, other methods 405.
    """

    def __init__(self, port: int = 0) -> None:
        super().__init__(port)
        self._pushes: list[Push] = []
        self._pushes_lock = threading.Lock()
        self._status: int | None = None

    def respond_with(self, status: int | None) -> None:
        """Answer every following push with ``status`` (``None``: back to 200/202)."""
        self._status = status

    @property
    def pushes(self) -> list[Push]:
        """A snapshot of the pushes received, oldest first (failed ones included)."""
        with self._pushes_lock:
            return list(self._pushes)

    def pushes_for(self, job: str) -> list[Push]:
        """The pushes for a job, oldest first."""
        return [p for p in self.pushes if p.job == job]

    def last_body_for(self, job: str) -> str | None:
        """The body (exposition text) of the last PUT/POST for a job, or None."""
        bodies = [p.body for p in self.pushes_for(job) if p.method in ("PUT", "POST")]
        return bodies[-1] if bodies else None

    def clear_requests(self) -> None:
        """Forget the recorded requests and pushes."""
        super().clear_requests()
        with self._pushes_lock:
            self._pushes.clear()

    def _handle(self, handler: _Handler) -> None:
        path = urlsplit(handler.path).path
        parts = path.strip("/").split("/")
        if len(parts) < 3 or len(parts) % 2 == 0 or parts[0] != "metrics" or parts[1].removesuffix("@base64") != "job":
            handler.reply(404, b"not found\n")
            return
        if handler.command not in ("PUT", "POST", "DELETE"):
            handler.reply(405, b"method not allowed\n", [("Allow", "PUT, POST, DELETE")])
            return
        pairs = [_decode_label(parts[i], parts[i + 1]) for i in range(1, len(parts), 2)]
        job = pairs[0][1]
        body = handler.record.body
        if (handler.headers.get("Content-Encoding") or "").lower() == "gzip":
            body = gzip.decompress(body)
        status = self._status or (202 if handler.command == "DELETE" else 200)
        push = Push(handler.command, path, job, dict(pairs[1:]), body.decode("utf-8", "replace"), status)
        with self._pushes_lock:
            self._pushes.append(push)
        handler.reply(status, b"" if status < 400 else b"injected failure\n")


# --------------------------------------------------------------------------------------------------
# Standalone mode


def _serve_until_signalled(server: _BaseServer, first_line: Callable[[], str]) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[int, Any] = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, on_signal)
    with server:
        print(first_line(), flush=True)
        while not stop.wait(0.5):
            pass
    for number, old in previous.items():
        signal.signal(number, old if old is not None else signal.SIG_DFL)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run a server as a process: ``index`` (for the benchmark), ``webhook``, ``pushgateway``."""
    parser = argparse.ArgumentParser(prog="python -m tests.support.servers", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    index = commands.add_parser("index", help="a synthetic index with /_control/ endpoints")
    index.add_argument("--projects", type=int, default=1000, help="number of projects pkg-00001...")
    index.add_argument("--versions", type=int, default=30, help="versions per project (1.0.0, 1.0.1, ...)")
    index.add_argument("--latency-ms", type=float, default=0.0, help="sleep before every response")
    index.add_argument("--port", type=int, default=0)
    index.add_argument("--formats", default="json,html", help="comma-separated subset of json,html")
    index.add_argument("--no-listing-serials", action="store_true", help="omit _last-serial in the JSON listing")
    index.add_argument("--record", action="store_true", help="keep a log of requests (memory grows)")
    index.add_argument("--warm", action="store_true", help="render every page before printing the URL")
    for name in ("webhook", "pushgateway"):
        commands.add_parser(name).add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)

    if args.command == "index":
        server = IndexServer(
            synthetic_projects(args.projects, args.versions),
            formats=[f for f in args.formats.split(",") if f],
            latency=args.latency_ms / 1000,
            port=args.port,
            listing_serials=not args.no_listing_serials,
            record=args.record,
            control=True,
        )
        if args.warm:
            server.warm([JSON_CONTENT_TYPE if f == "json" else TEXT_HTML for f in server.formats])
        return _serve_until_signalled(server, lambda: server.base_url)
    other: _BaseServer = WebhookReceiver(args.port) if args.command == "webhook" else PushGatewayStandIn(args.port)
    return _serve_until_signalled(other, lambda: other.url)


if __name__ == "__main__":
    sys.exit(main())
