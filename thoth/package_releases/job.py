"""One run of the job: configuration -> knowledge graph -> indexes (and feeds) -> notifications -> report."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TypeVar

from thoth.package_releases.config import Config, load_config
from thoth.package_releases.database import choose_database
from thoth.package_releases.embedded_db import EmbeddedDatabase, EmbeddedDatabaseError
from thoth.package_releases.graph import ConnectionLost, DatabaseError, Graph, IndexRow
from thoth.package_releases.redact import mask_text
from thoth.package_releases.releases import chunked, shard_of
from thoth.package_releases.report import IndexReport, RunReport
from thoth.package_releases.schema import SchemaError
from thoth.package_releases.simple_index import FetchStatus, PageValidators, ProjectVersions, SimpleIndexClient

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

# Reconnection after a lost database connection: attempts and first delay (doubled each time).
_RECONNECT_ATTEMPTS = 5
_RECONNECT_DELAY = 0.5


@dataclass(frozen=True)
class Settings:
    """Everything a run is told by its command line and environment."""

    config: str = "config/thoth.yaml"
    database_url: str | None = None
    data_dir: Path = Path(".thoth-data")
    init_schema: bool = False
    only_if_package_seen: bool = False
    dry_run: bool = False
    concurrency: int = 16
    timeout: float = 30.0
    chunk_size: int = 500
    feeds: bool = True
    scan: bool = True
    deadline: float | None = None
    shard_index: int = 0
    shard_count: int = 1
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


class RunFailed(Exception):
    """The run could not complete (exit code 1); the message is one line for the operator."""


class _Stop:
    """Why the run should stop taking new work: a signal or the deadline."""

    def __init__(self, deadline: float | None) -> None:
        self.reason: str | None = None
        self.signal: int | None = None
        self._deadline_at = time.monotonic() + deadline if deadline else None

    def requested(self) -> bool:
        if self.reason is None and self._deadline_at is not None and time.monotonic() >= self._deadline_at:
            self.reason = "the --deadline was reached"
        return self.reason is not None

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.signal = signum
        self.reason = f"received {signal.Signals(signum).name}"
        _LOGGER.warning("Received %s: finishing the chunk in flight, then stopping", signal.Signals(signum).name)


class Job:
    """A single run over every enabled index (and configured feed)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.report = RunReport(
            started_at=datetime.now(UTC),
            dry_run=settings.dry_run,
            shard_index=settings.shard_index,
            shard_count=settings.shard_count,
        )
        self.stop = _Stop(settings.deadline)
        self.config: Config | None = None
        self.graph: Graph | None = None
        self._embedded: EmbeddedDatabase | None = None

    # -- the run ------------------------------------------------------------------------------------------

    def run(self) -> RunReport:
        """Do the run and return its report; raises ConfigError (bad configuration) or RunFailed."""
        settings = self.settings
        config = self.config = load_config(settings.config, environ=settings.environ, timeout=settings.timeout)
        with self._signals():
            try:
                graph = self._open_graph()
                if not graph.try_lock(settings.shard_index, settings.shard_count):
                    self.report.skipped = f"another run holds the lock on {graph.description} for this shard"
                    _LOGGER.warning("Another run is in progress on %s; nothing to do", graph.description)
                    return self._finish()
                if not settings.dry_run and config.indexes:
                    for url in self._with_reconnect(lambda g: g.register_indexes(config.indexes)):
                        _LOGGER.info("Registered index %s", url)
                if settings.scan:
                    self._scan_indexes()
                report = self._finish()
                if report.indexes and not any(index.usable for index in report.indexes):
                    failures = "; ".join(f"{i.url}: {i.error or 'every package failed'}" for i in report.indexes)
                    raise RunFailed(f"every index failed: {failures}")
                return report
            finally:
                self._close()

    def _open_graph(self) -> Graph:
        settings = self.settings
        choice = choose_database(settings.database_url, settings.environ)
        try:
            if choice.url is None:
                self._embedded = EmbeddedDatabase(settings.data_dir)
                url = self._embedded.start()
            else:
                url = choice.url
            graph = Graph(url)
            self.graph = graph
            self.report.database = (
                graph.description if choice.url else f"embedded PostgreSQL in {settings.data_dir.resolve()}"
            )
            _LOGGER.info("Using %s (from %s)", self.report.database, choice.source)
            graph.ensure_schema(migrate=choice.embedded or (settings.init_schema and not settings.dry_run))
        except (DatabaseError, EmbeddedDatabaseError, SchemaError) as error:
            raise RunFailed(str(error)) from None
        return graph

    def _finish(self) -> RunReport:
        self.report.finished_at = datetime.now(UTC)
        if self.stop.reason and not self.report.interrupted:
            self.report.interrupted = self.stop.reason
        return self.report

    def _close(self) -> None:
        if self.graph is not None:
            self.graph.close()
        if self._embedded is not None:
            self._embedded.stop()

    @contextmanager
    def _signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.stop.on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # -- database resilience ------------------------------------------------------------------------------

    def _with_reconnect(self, action: Callable[[Graph], T]) -> T:
        """Run a database action; when the connection is lost, reconnect with backoff and run it again."""
        assert self.graph is not None
        delay = _RECONNECT_DELAY
        for attempt in range(_RECONNECT_ATTEMPTS + 1):
            try:
                return action(self.graph)
            except ConnectionLost as error:
                if attempt == _RECONNECT_ATTEMPTS:
                    raise RunFailed(f"{error}; gave up after {_RECONNECT_ATTEMPTS} reconnection attempts") from None
                _LOGGER.warning("%s; reconnecting in %.1f s", error, delay)
                time.sleep(delay)
                delay *= 2
                try:
                    self.graph.connect()
                except DatabaseError as reconnect_error:
                    _LOGGER.warning("Reconnection failed: %s", reconnect_error)
        raise AssertionError("unreachable")

    # -- scanning indexes ---------------------------------------------------------------------------------

    def _scan_indexes(self) -> None:
        assert self.config is not None
        indexes = self._indexes()
        if not indexes:
            _LOGGER.warning("No enabled Python package index is registered in the knowledge graph")
        known: set[str] | None = None
        for index in indexes:
            if self.stop.requested():
                break
            only_seen = self.settings.only_if_package_seen or index.only_if_package_seen
            if only_seen and known is None:
                known = self._with_reconnect(lambda g: g.known_names())
            self._scan_index(index, known if only_seen else None)

    def _indexes(self) -> list[IndexRow]:
        assert self.config is not None
        indexes = self._with_reconnect(lambda g: g.indexes())
        if self.settings.dry_run:
            # A dry run registers nothing: show what configured, not yet registered indexes would yield.
            registered = {row.url for row in self._with_reconnect(lambda g: g.indexes(enabled_only=False))}
            indexes += [
                IndexRow(None, c.url, c.warehouse_api_url, c.verify_ssl, c.enabled, c.only_if_package_seen)
                for c in self.config.indexes
                if c.url not in registered and c.enabled
            ]
        return indexes

    def _names_for(
        self, index: IndexRow, known: set[str] | None, client: SimpleIndexClient, report: IndexReport
    ) -> tuple[list[str], Mapping[str, int] | None] | None:
        assert self.config is not None
        monitored = self.config.monitored_names
        serials: Mapping[str, int] | None = None
        if known is not None:
            names = known | monitored
        else:
            listing = client.project_listing(None)
            if listing.status is not FetchStatus.OK:
                report.error = listing.error or f"project listing: {listing.status.value}"
                return None
            names = set(listing.projects) | monitored
            serials = listing.serials
        owned = sorted(n for n in names if shard_of(n, self.settings.shard_count) == self.settings.shard_index)
        return owned, serials

    def _scan_index(self, index: IndexRow, known: set[str] | None) -> None:
        settings = self.settings
        report = IndexReport(url=index.url)
        self.report.indexes.append(report)
        with SimpleIndexClient(
            index.url, verify_ssl=index.verify_ssl, timeout=settings.timeout, concurrency=settings.concurrency
        ) as client:
            selection = self._names_for(index, known, client, report)
            if selection is None:
                _LOGGER.error("Index %s failed: %s", index.url, report.error)
                return
            names, _serials = selection
            _LOGGER.info("Checking %d packages on %s", len(names), index.url)
            for chunk in chunked(names, settings.chunk_size):
                if self.stop.requested():
                    break
                self._scan_chunk(index, chunk, client, report)

    def _scan_chunk(
        self, index: IndexRow, chunk: Sequence[str], client: SimpleIndexClient, report: IndexReport
    ) -> None:
        validators = self._with_reconnect(lambda g: g.page_validators(index.url, chunk))
        found: dict[str, tuple[str, ...]] = {}
        pages: dict[str, PageValidators] = {}
        results = client.fetch_many((name, validators.get(name)) for name in chunk)
        try:
            for result in results:
                self._count(index, result, report, found, pages)
                if self.stop.requested():
                    break
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()
        outcome = self._with_reconnect(lambda g: g.record(index, found, pages, dry_run=self.settings.dry_run))
        report.new_releases += len(outcome.new_releases)
        self.report.new_releases.extend(outcome.new_releases)
        for release in outcome.new_releases:
            _LOGGER.info("New release %s %s on %s", release.package_name, release.package_version, release.index_url)

    def _count(
        self,
        index: IndexRow,
        result: ProjectVersions,
        report: IndexReport,
        found: dict[str, tuple[str, ...]],
        pages: dict[str, PageValidators],
    ) -> None:
        report.packages_checked += 1
        status = result.status
        if status is FetchStatus.OK:
            found[result.project] = result.versions
            pages[result.project] = result.validators
            for raw in result.invalid_versions:
                report.invalid_versions += 1
                self.report.add_error(result.project, index.url, f"skipped invalid version {raw!r} (not PEP 440)")
        elif status is FetchStatus.NOT_MODIFIED:
            report.not_modified += 1
            pages[result.project] = result.validators
        elif status is FetchStatus.NOT_FOUND:
            report.not_found += 1
        elif status is FetchStatus.STALE:
            report.stale += 1
            self.report.add_error(result.project, index.url, mask_text(result.error or "stale page"))
        else:
            report.failed += 1
            self.report.add_error(result.project, index.url, mask_text(result.error or "failed"))
            _LOGGER.warning("%s on %s: %s", result.project, index.url, mask_text(result.error or "failed"))
