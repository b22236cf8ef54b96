"""A stand-in for the Prometheus push gateway: records the pushes it receives."""

from __future__ import annotations

import base64
import binascii
import gzip
import threading
from dataclasses import dataclass
from urllib.parse import unquote_plus, urlsplit

from tests.support.servers.base import BaseServer
from tests.support.servers.handler import Handler


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


class PushGatewayStandIn(BaseServer):
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

    def _handle(self, handler: Handler) -> None:
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
