"""The test PostgreSQL on 127.0.0.1: a TCP address for a server that may listen on a Unix socket only.

A pod reaches the knowledge graph at a host and a port (``KNOWLEDGE_GRAPH_HOST``/``PORT``), so a deployment
rehearsal needs the test database on TCP. A server named by a TCP URL (``THOTH_TEST_DATABASE_URL``) is used as it
is; the embedded server (``postgresql://postgres:@/postgres?host=<socket folder>``) listens on a Unix socket
only, so :class:`UnixSocketRelay` accepts connections on 127.0.0.1 and relays each, byte for byte, to that socket.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

_BUFFER = 64 * 1024


@dataclass(frozen=True)
class PostgresAddress:
    """Where a pod finds the test PostgreSQL: what the ``thoth`` ConfigMap and Secret hold."""

    host: str
    port: int
    user: str
    password: str


class UnixSocketRelay:
    """Accepts TCP connections on 127.0.0.1 and relays each one to a Unix socket, until stopped."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name=f"relay:{self.port}", daemon=True)

    def start(self) -> UnixSocketRelay:
        """Start accepting connections; return ``self``."""
        self._thread.start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # the listener was closed: stop
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(str(self.socket_path))
            except OSError:
                client.close()
                upstream.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(_BUFFER):
                target.sendall(data)
        except OSError:
            pass
        for sock, how in ((target, socket.SHUT_WR), (source, socket.SHUT_RD)):
            with suppress(OSError):
                sock.shutdown(how)

    def stop(self) -> None:
        """Stop accepting and close every relayed connection."""
        self._listener.close()
        with self._lock:
            for sock in self._open:
                sock.close()
            self._open.clear()


@contextmanager
def tcp_address(server_url: str) -> Iterator[PostgresAddress]:
    """The test server's TCP address on this machine, relayed from its Unix socket when it has no TCP one."""
    parts = urlsplit(server_url)
    user, password = unquote(parts.username or "postgres"), unquote(parts.password or "")
    if parts.hostname:
        yield PostgresAddress(parts.hostname, parts.port or 5432, user, password)
        return
    (folder,) = parse_qs(parts.query)["host"]
    port = int(parse_qs(parts.query).get("port", ["5432"])[0])
    relay = UnixSocketRelay(Path(folder) / f".s.PGSQL.{port}").start()
    try:
        yield PostgresAddress("127.0.0.1", relay.port, user, password)
    finally:
        relay.stop()
