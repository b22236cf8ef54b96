"""Gates: a test holds a server's responses until it releases them, instead of hoping a server is slow enough.

A gate belongs to one server and matches some of its targets (project names, paths, :data:`ANY`). A request
that matches waits in its handler thread, before any response byte is sent, until the test calls
:meth:`Gate.release`, or :meth:`Gate.drop` or stops the server (then the connection is dropped unanswered).
:meth:`Gate.wait_held` lets the test wait until a given number of requests are being held: the moment the
client is known to be blocked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

from tests.support.servers.recording import ANY

_ALIVE_POLL = 0.05  # how often wait_held() asks whether the client is still alive


class Gate:
    """Holds the responses to the matching requests until released; a context manager releasing on exit."""

    def __init__(self, targets: frozenset[str]) -> None:
        self.targets = targets
        self._changed = threading.Condition()
        self._held = 0
        self._arrived = 0
        self._released = False
        self._drops = 0

    def matches(self, key: str) -> bool:
        """Tell whether a request for this target (as the server keys it) is held by this gate."""
        return not self._released and (ANY in self.targets or key in self.targets)

    def hold(self, stopping: threading.Event) -> bool:
        """Block until released (True: answer), dropped or ``stopping`` set and :meth:`wake` called (False)."""
        with self._changed:
            if self._released:
                return True
            self._held += 1
            self._arrived += 1
            drops = self._drops
            self._changed.notify_all()
            try:
                self._changed.wait_for(lambda: self._released or self._drops != drops or stopping.is_set())
            finally:
                self._held -= 1
                self._changed.notify_all()
            return self._released and self._drops == drops

    def wake(self) -> None:
        """Make held requests look at their server's ``stopping`` event again."""
        with self._changed:
            self._changed.notify_all()

    def release(self) -> None:
        """Let every held request and every later one through (a released gate stays open)."""
        with self._changed:
            self._released = True
            self._changed.notify_all()

    def drop(self) -> None:
        """Drop the connections of the held requests without an answer; let every later request through."""
        with self._changed:
            self._drops += 1
            self._released = True
            self._changed.notify_all()

    @property
    def released(self) -> bool:
        """Whether :meth:`release` was called."""
        return self._released

    @property
    def held(self) -> int:
        """How many requests are being held right now."""
        with self._changed:
            return self._held

    @property
    def arrived(self) -> int:
        """How many requests this gate has held in all (released ones included)."""
        with self._changed:
            return self._arrived

    def wait_held(self, count: int = 1, *, timeout: float = 60.0, alive: Callable[[], bool] | None = None) -> None:
        """Wait until ``count`` requests are being held.

        Fails the test (AssertionError) when ``alive()`` turns false first (the client process ended without
        reaching the gate) or after ``timeout`` seconds, an upper bound for a hang only.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._held < count:
                if alive is not None and not alive():
                    raise AssertionError(f"the client ended with {self._held} of {count} requests held at the gate")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{count} requests were never held at the gate within {timeout} s")
                self._changed.wait(min(remaining, _ALIVE_POLL) if alive is not None else remaining)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()
