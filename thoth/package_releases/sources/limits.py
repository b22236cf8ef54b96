"""The bounds every HTTP request of the job is held to: a total time limit, a stop, and a shared memory budget.

A per-read socket timeout does not bound a request: a server sending one byte of its headers every second
never trips it. :func:`watched` puts a request under the process' one watchdog thread, which shuts down the
request's sockets when its total time limit passes or when it is told to stop, so that whatever call is
blocked on them returns at once. The sockets are those of the connections the request uses (the job's
sessions build them through :class:`WatchedHTTPAdapter`).

:class:`MemoryBudget` bounds the decompressed bytes a client's requests hold together, however many are in
flight.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Final

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

# The decompressed bytes the requests of one index client may hold together (bodies until parsed).
DEFAULT_MEMORY_BUDGET: Final = 64 * 1024 * 1024
# How often the watchdog looks at the stop conditions of the requests it watches.
POLL_SECONDS: Final = 0.1


class Watch:
    """One request under the watchdog: its end time, its stop condition, the connections it uses.

    ``fired`` tells why the watchdog cut the request short ("timeout" or "stopped"), None while it has not.
    """

    def __init__(self, limit: float, should_stop: Callable[[], bool] | None) -> None:
        self.limit = limit
        now = time.monotonic()
        self.ends_at = now + limit
        # A request that ends within a poll is never asked about: no cost for the many quick ones.
        self._stop_checked_from = now + POLL_SECONDS
        self.should_stop = should_stop
        self.fired: str | None = None
        self._connections: list[Any] = []
        self._lock = threading.Lock()

    def extend(self, limit: float) -> None:
        """Make the total time limit ``limit`` seconds from the start (when it is longer than the present one)."""
        self.ends_at = max(self.ends_at, self.ends_at - self.limit + limit)
        self.limit = max(self.limit, limit)

    def remaining(self) -> float:
        """Return the seconds left before the total time limit (never below a millisecond)."""
        return max(self.ends_at - time.monotonic(), 0.001)

    def add(self, connection: Any) -> None:
        """Put a connection the request uses under watch (cut at once if the watch already fired)."""
        with self._lock:
            self._connections.append(connection)
        if self.fired is not None:
            _shut(connection)

    def check(self, now: float) -> None:
        """Fire when the time limit passed or the stop condition holds; once fired, cut every connection."""
        if self.fired is None:
            if now >= self.ends_at:
                self.fired = "timeout"
            elif self.should_stop is not None and now >= self._stop_checked_from and _safely(self.should_stop):
                self.fired = "stopped"
        if self.fired is not None:
            with self._lock:
                connections = list(self._connections)
            for connection in connections:
                _shut(connection)


def _safely(condition: Callable[[], bool]) -> bool:
    try:
        return bool(condition())
    except Exception:  # a broken stop condition must not kill the watchdog
        return False


def _shut(connection: Any) -> None:
    """Shut down a connection's sockets: a call blocked on them in another thread returns at once."""
    for sock in (getattr(connection, "sock", None), getattr(connection, "_watched_raw_sock", None)):
        if sock is None:
            continue
        with contextlib.suppress(OSError, ValueError, TypeError):  # already closed, or never connected
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """The one thread that watches every request in flight in the process."""

    def __init__(self) -> None:
        self._watches: set[Watch] = set()
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self._local = threading.local()

    def current(self) -> Watch | None:
        """Return the watch of the request the calling thread is making, if any."""
        return getattr(self._local, "watch", None)

    @contextmanager
    def watching(self, limit: float, should_stop: Callable[[], bool] | None) -> Iterator[Watch]:
        """Watch the calling thread's request for the duration: see :func:`watched`."""
        watch = Watch(limit, should_stop)
        previous = self.current()
        self._local.watch = watch
        with self._condition:
            self._watches.add(watch)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="http-watchdog", daemon=True)
                self._thread.start()
            self._condition.notify()
        try:
            yield watch
        finally:
            self._local.watch = previous
            with self._condition:
                self._watches.discard(watch)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._watches:
                    self._condition.wait()
                watches = list(self._watches)
            now = time.monotonic()
            for watch in watches:
                watch.check(now)
            soonest = min(watch.ends_at for watch in watches) - now
            time.sleep(min(max(soonest, 0.005), POLL_SECONDS))


_WATCHDOG: Final = _Watchdog()


def watched(limit: float, should_stop: Callable[[], bool] | None = None) -> AbstractContextManager[Watch]:
    """Return a context manager putting the calling thread's requests under a total time limit and a stop.

    It gives the :class:`Watch`, whose ``fired`` says whether (and why) the watchdog cut the request short.
    """
    return _WATCHDOG.watching(limit, should_stop)


def _enlist(connection: Any) -> None:
    watch = _WATCHDOG.current()
    if watch is not None:
        watch.add(connection)


class _WatchedHTTPConnection(HTTPConnection):
    """A connection that puts itself under the watch of the request using it."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self._watched_raw_sock = sock
        _enlist(self)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        """Send a request, under the watch of the calling thread's request."""
        _enlist(self)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    """A TLS connection that puts itself under the watch of the request using it."""


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS: Final = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class WatchedHTTPAdapter(HTTPAdapter):
    """A transport adapter whose connections (direct or through a proxy) can be cut by the watchdog."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Create the pool manager, with watched connections."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """Return the manager of a proxy's connections, with watched connections (SOCKS proxies excepted)."""
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


# -- memory ----------------------------------------------------------------------------------------------------


class BudgetExceeded(Exception):
    """Taking more bytes would pass the memory budget; ``alone`` when the request by itself would pass it."""

    def __init__(self, limit: int, *, alone: bool) -> None:
        super().__init__(f"memory budget of {limit} bytes exceeded")
        self.limit = limit
        self.alone = alone


class MemoryBudget:
    """Bytes that the requests of one client may hold together (decompressed bodies, until they are parsed)."""

    def __init__(self, limit: int) -> None:
        if limit <= 0:
            raise ValueError("a memory budget must be positive")
        self.limit = limit
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        """Return the bytes held now."""
        return self._used

    @contextmanager
    def allowance(self) -> Iterator[Allowance]:
        """Give an allowance drawn on this budget; what it took is given back when the block ends."""
        allowance = Allowance(self)
        try:
            yield allowance
        finally:
            allowance.give_back(allowance.taken)

    def _take(self, size: int, already: int) -> None:
        with self._lock:
            if already + size > self.limit:
                raise BudgetExceeded(self.limit, alone=True)
            if self._used + size > self.limit:
                raise BudgetExceeded(self.limit, alone=False)
            self._used += size

    def _give_back(self, size: int) -> None:
        with self._lock:
            self._used -= size


class Allowance:
    """What one request (and the parsing of its answer) took from a :class:`MemoryBudget`."""

    def __init__(self, budget: MemoryBudget) -> None:
        self._budget = budget
        self.taken = 0

    @property
    def limit(self) -> int:
        """Return the budget's limit."""
        return self._budget.limit

    def take(self, size: int) -> None:
        """Take ``size`` more bytes; raise BudgetExceeded when they do not fit."""
        self._budget._take(size, self.taken)
        self.taken += size

    def give_back(self, size: int) -> None:
        """Give back ``size`` bytes (those of a body that was dropped)."""
        size = min(size, self.taken)
        if size > 0:
            self._budget._give_back(size)
            self.taken -= size
