"""The HTTP plumbing every server shares: a threaded HTTP/1.1 server on 127.0.0.1 and its request handler.

The handler reads a request and hands it to the server's owner (:class:`Owner`, implemented by
:class:`~tests.support.servers.base.BaseServer`); it offers the owner ways to answer: whole responses in one
write, raw heads and bodies, waits that end when the server stops, and abrupt resets.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import socket
import socketserver
import struct
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from tests.support.servers.recording import HOST, RecordedRequest


class Owner(Protocol):
    """What the HTTP server needs from the test server that owns it."""

    errors: list[str]

    def dispatch(self, handler: Handler) -> None:
        """Handle one request."""

    def count_status(self, status: int) -> None:
        """Count a response sent with this status (``0``: dropped)."""

    def count_bytes(self, count: int) -> None:
        """Count bytes written to a client."""


_date_cache: list[Any] = [0, ""]


def http_date() -> str:
    """The current time as an HTTP date (computed once per second)."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[1] = email.utils.formatdate(now, usegmt=True)
        _date_cache[0] = now
    return str(_date_cache[1])


def header_block(headers: Iterable[tuple[str, str]]) -> bytes:
    """Header lines, each ending with CRLF, encoded for the wire."""
    return "".join(f"{name}: {value}\r\n" for name, value in headers).encode("latin-1")


class LocalHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server on 127.0.0.1 that tracks its connections so that stopping it ends them all."""

    daemon_threads = True
    block_on_close = False  # never wait for keep-alive connections on close
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, port: int, owner: Owner) -> None:
        self.owner = owner
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__((HOST, port), Handler)

    def server_bind(self) -> None:
        """Bind without resolving the host name (HTTPServer's getfqdn() can be slow)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name = HOST
        self.server_port = self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        """Remember the connection, then handle it in a thread."""
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection, then close it."""
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Record unexpected handler exceptions; a client that went away is not one."""
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


class Handler(BaseHTTPRequestHandler):
    """Reads one request at a time (keep-alive) and hands it to the owner; helpers to answer it."""

    protocol_version = "HTTP/1.1"
    server_version = "thoth-test-server/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 300  # idle keep-alive connections
    server: LocalHTTPServer
    record: RecordedRequest
    counted: bool = True

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def do_GET(self) -> None:
        """Hand every request to the owning server."""
        self.server.owner.dispatch(self)

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
        # Counted first: a client that has read the bytes must find them counted (not after this thread resumes).
        if self.counted:
            self.server.owner.count_bytes(len(data))
        try:
            self.wfile.write(data)
        except OSError:
            if self.counted:
                self.server.owner.count_bytes(-len(data))
            raise

    def send_raw(self, status: int, headers: bytes, body: bytes = b"", *, connection_header: bool = True) -> None:
        """Send a whole response in one write: status line, common headers, ``headers``, body."""
        self.record.status = status
        if self.counted:
            self.server.owner.count_status(status)
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
            f"HTTP/1.1 {status} {reason}\r\nServer: {self.server_version}\r\nDate: {http_date()}\r\n".encode("latin-1")
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
        self.send_raw(status, header_block(lines), body)

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
            self.server.owner.count_status(0)
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The buffered reader holds a reference to the socket: release it so close() really closes.
        self.rfile.close()
        self.connection.close()
