"""A webhook receiver: records every delivery and answers with scripted statuses."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from tests.support.servers.base import BaseServer
from tests.support.servers.handler import Handler
from tests.support.servers.recording import ANY, Fault


class WebhookReceiver(BaseServer):
    """Records every request (any method, any path) and answers with scripted statuses.

    Statuses queued with :meth:`respond_with` are used first, one per request; then
    ``default_status``. :meth:`stop`/:meth:`start` simulate the receiver being down; :meth:`hold`
    (paths, or every request) keeps deliveries waiting for an answer until the test releases them.
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

    def _handle(self, handler: Handler) -> None:
        path = urlsplit(handler.path).path
        answer, _ = self._admit(handler, path)
        if not answer:
            return
        if self._delay > 0 and handler.wait(self._delay):
            handler.abort()
            return
        with self._script_lock:
            status = self._statuses.popleft() if self._statuses else self.default_status
        handler.reply_json(status, {"ok": 200 <= status < 300, "status": status})
