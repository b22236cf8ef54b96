"""What every phase of a run shares: settings, the stop flag, the store, the index clients and the report."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from types import FrameType
from typing import TypeVar

from thoth.package_releases.phases.ports import IndexClientFactory, IndexClientPort, ProjectPage, StorePort
from thoth.package_releases.redact import mask_url
from thoth.package_releases.releases import shard_of
from thoth.package_releases.report import RunReport
from thoth.package_releases.settings import Settings
from thoth.package_releases.values import ChunkOutcome, IndexRow, Notifier, PageValidators, Release

# The job's records are logged under the job's name, wherever in the orchestration they come from.
_LOGGER = logging.getLogger("thoth.package_releases.job")

T = TypeVar("T")


class StopFlag:
    """Why the run should stop taking new work: a signal or the deadline."""

    def __init__(self, deadline: float | None) -> None:
        self.reason: str | None = None
        self.signal: int | None = None
        self._deadline_at = time.monotonic() + deadline if deadline else None
        self._signalled = threading.Event()
        self._listeners: list[Callable[[], None]] = []

    def sleep(self, seconds: float) -> None:
        """Wait (a backoff), waking early when a signal asks the run to stop."""
        self._signalled.wait(seconds)

    def pause(self, seconds: float) -> None:
        """Wait (a backoff between two requests), waking early at a signal or when the deadline passes."""
        if self._deadline_at is not None:
            seconds = min(seconds, max(self._deadline_at - time.monotonic(), 0.0))
        self._signalled.wait(seconds)

    def on_stop(self, listener: Callable[[], None]) -> None:
        """Have ``listener`` called (in the signal handler: it must only set a flag) when a signal arrives."""
        self._listeners.append(listener)

    def requested(self) -> bool:
        """Tell whether new work should not be started (checks the deadline too)."""
        if self.reason is None and self._deadline_at is not None and time.monotonic() >= self._deadline_at:
            self.reason = "the --deadline was reached"
            _LOGGER.warning("The deadline was reached: finishing the chunk in flight, then stopping")
        return self.reason is not None

    def signalled(self) -> bool:
        """Tell whether a signal arrived (it stops at once; the deadline lets a chunk finish)."""
        return self.signal is not None

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        """Signal handler: remember the signal; the run stops after the chunk in flight."""
        name = signal.Signals(signum).name
        self.signal = signum
        self.reason = f"received {name}"
        self._signalled.set()
        for listener in list(self._listeners):
            listener()
        _LOGGER.warning("Received %s: finishing the chunk in flight, then stopping", name)


@contextmanager
def handling_signals(stop: StopFlag) -> Iterator[None]:
    """Route SIGTERM and SIGINT to the stop flag for the duration (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, stop.on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class RunContext:
    """The state one run's phases share; the phases read settings and write the report through it."""

    def __init__(
        self,
        settings: Settings,
        store: StorePort,
        report: RunReport,
        stop: StopFlag,
        index_client: IndexClientFactory,
    ) -> None:
        self.settings = settings
        self.store = store
        self.report = report
        self.stop = stop
        self._index_client = index_client
        self._clients: dict[str, IndexClientPort] = {}
        self._known: set[str] | None = None

    def db(self, action: Callable[[], T]) -> T:
        """Run one transactional database action, reconnecting (and running it again) on a lost connection."""
        return self.store.with_reconnect(action, sleep=self.stop.sleep)

    def client(self, index: IndexRow) -> IndexClientPort:
        """Return the client of an index (one per index for the whole run)."""
        client = self._clients.get(index.url)
        if client is None:
            if not index.verify_ssl and index.url.lower().startswith("https://"):
                _LOGGER.warning("TLS verification is off for index %s", mask_url(index.url))
            client = self._index_client(
                index.url,
                verify_ssl=index.verify_ssl,
                timeout=self.settings.timeout,
                concurrency=self.settings.concurrency,
                environ=self.settings.environ,
            )
            self._clients[index.url] = client
            # A signal cuts the client's requests in flight short, whatever their servers do.
            self.stop.on_stop(client.cancel)
        return client

    def close_clients(self) -> None:
        """Close every index client."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def known_names(self) -> set[str]:
        """Return the names the knowledge graph knows (read once per run)."""
        if self._known is None:
            graph = self.store.graph
            self._known = self.db(graph.known_names)
        return self._known

    def only_seen(self, index: IndexRow) -> bool:
        """Whether only known (and monitored) names are checked on an index."""
        return self.settings.only_if_package_seen or index.only_if_package_seen

    def owned(self, name: str) -> bool:
        """Whether a package name belongs to this run's shard."""
        return shard_of(name, self.settings.shard_count) == self.settings.shard_index

    def record(
        self,
        index: IndexRow,
        found: Mapping[str, Iterable[str]],
        pages: Mapping[str, PageValidators],
        notifier: Notifier | None,
        *,
        read: Mapping[str, ProjectPage] | None = None,
        not_found: Collection[str] = (),
    ) -> ChunkOutcome:
        """Record what a chunk found (one transaction) and add the new releases and the events to the report.

        ``read`` (pages answered 200) and ``not_found`` (projects answered 404) are compared for release events.
        """
        outcome = self.db(
            lambda: self.store.record(
                index, found, pages, notifier=notifier, dry_run=self.settings.dry_run, read=read, not_found=not_found
            )
        )
        # The index URL as stored may carry credentials (the graph is not this job's to police): report it masked.
        shown = mask_url(index.url)
        self.report.new_releases.extend(
            Release(r.package_name, r.package_version, shown) if shown != r.index_url else r
            for r in outcome.new_releases
        )
        self.report.add_events(replace(event, index_url=shown) for event in outcome.events)
        for release in outcome.new_releases:
            _LOGGER.debug("New release %s %s on %s", release.package_name, release.package_version, shown)
        return outcome
