"""One run of the job: configuration -> knowledge graph -> feeds and indexes -> notifications -> report, metrics."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TypeVar

from thoth.package_releases import metrics, notifications
from thoth.package_releases.config import Config, FeedConfig, load_config
from thoth.package_releases.database import choose_database
from thoth.package_releases.embedded_db import EmbeddedDatabase, EmbeddedDatabaseError
from thoth.package_releases.graph import ConnectionLost, DatabaseError, Graph, create_database
from thoth.package_releases.progress import Progress
from thoth.package_releases.redact import mask_text, mask_url
from thoth.package_releases.releases import chunked, shard_of
from thoth.package_releases.report import FeedReport, IndexReport, RunReport
from thoth.package_releases.schema import SchemaError
from thoth.package_releases.sources.feeds import fetch_feed
from thoth.package_releases.sources.index import FetchStatus, ProjectResult, SimpleIndexClient
from thoth.package_releases.values import ChunkOutcome, IndexRow, Notifier, PageValidators, Release

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

# Reconnection after a lost database connection: attempts and first delay (doubled each time).
RECONNECT_ATTEMPTS = 5
RECONNECT_DELAY = 0.5

# An index whose requests failed this many times in a row (after their own retries) is taken as down: the
# rest of it is not attempted, rather than spending every package's retries and backoff on a dead host.
INDEX_DOWN_AFTER = 50


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
    notification_attempts: int = 10
    metrics_file: Path | None = None
    quiet: bool = False
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


class RunFailed(Exception):
    """The run could not complete (exit code 1); the message is one line for the operator."""


class StopFlag:
    """Why the run should stop taking new work: a signal or the deadline."""

    def __init__(self, deadline: float | None) -> None:
        self.reason: str | None = None
        self.signal: int | None = None
        self._deadline_at = time.monotonic() + deadline if deadline else None
        self._signalled = threading.Event()

    def sleep(self, seconds: float) -> None:
        """Wait (a backoff), waking early when a signal asks the run to stop."""
        self._signalled.wait(seconds)

    def requested(self) -> bool:
        """Tell whether new work should not be started (checks the deadline too)."""
        if self.reason is None and self._deadline_at is not None and time.monotonic() >= self._deadline_at:
            self.reason = "the --deadline was reached"
            _LOGGER.warning("The deadline was reached: finishing the chunk in flight, then stopping")
        return self.reason is not None

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        """Signal handler: remember the signal; the run stops after the chunk in flight."""
        name = signal.Signals(signum).name
        self.signal = signum
        self.reason = f"received {name}"
        self._signalled.set()
        _LOGGER.warning("Received %s: finishing the chunk in flight, then stopping", name)


class Job:
    """A single run over the configured feeds and every enabled index."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.report = RunReport(
            started_at=datetime.now(UTC),
            dry_run=settings.dry_run,
            shard_index=settings.shard_index,
            shard_count=settings.shard_count,
        )
        self.stop = StopFlag(settings.deadline)
        self.graph: Graph | None = None
        self._embedded: EmbeddedDatabase | None = None
        self._clients: dict[str, SimpleIndexClient] = {}
        self._known: set[str] | None = None
        self._schema_ready = False
        self._failing: dict[str, tuple[int, str]] = {}  # index URL -> (failures in a row, last reason)

    # -- the run ------------------------------------------------------------------------------------------

    def run(self) -> RunReport:
        """Do the run and return its report; raises ConfigError (bad configuration) or RunFailed.

        The report is complete (and metrics are published) whatever the outcome; see ``self.report``.
        """
        config = load_config(self.settings.config, environ=self.settings.environ, timeout=self.settings.timeout)
        with self._signals():
            try:
                self._run(config)
            except RunFailed as error:
                self.report.failure = str(error)
                raise
            finally:
                self.report.finished_at = datetime.now(UTC)
                if self.stop.reason and not self.report.interrupted:
                    self.report.interrupted = self.stop.reason
                self._remember_run()
                self._publish_metrics()
                self._close()
        return self.report

    def _run(self, config: Config) -> None:
        settings = self.settings
        graph = self._open_graph()
        scope = "scan" if settings.scan else "feeds"
        if not graph.try_lock(settings.shard_index, settings.shard_count, scope=scope):
            self.report.skipped = f"another {scope} run holds the lock on {graph.description} for this shard"
            _LOGGER.warning("Another run is in progress on %s; nothing to do", graph.description)
            return
        if not settings.dry_run and config.indexes:
            for url in self._with_reconnect(lambda g: g.register_indexes(config.indexes)):
                _LOGGER.info("Registered index %s in the knowledge graph", url)
        indexes = self._indexes(config)
        if not indexes:
            _LOGGER.warning("No enabled Python package index is registered in the knowledge graph")
        notifier = notifications.notifier(config) if any(p.triggers for p in config.packages) else None
        if settings.feeds:
            for feed in config.feeds:
                if self.stop.requested():
                    break
                self._read_feed(config, feed, indexes, notifier)
        if settings.scan:
            for index in indexes:
                if self.stop.requested():
                    break
                self._scan_index(config, index, notifier)
        if settings.dry_run:
            outbox = self._with_reconnect(lambda g: g.outbox_counts(settings.shard_index, settings.shard_count))
            self.report.notifications.pending = outbox["pending"]
            self.report.notifications.dead = outbox["dead"]
        else:
            # Also without any trigger configured: queued notifications of removed triggers are given up.
            self._deliver(config)
        scanned = self.report.indexes
        if scanned and not any(index.usable for index in scanned) and not self.stop.reason:
            failures = "; ".join(f"{i.url}: {i.error or 'every package failed'}" for i in scanned)
            raise RunFailed(f"every index failed: {failures}")

    def _open_graph(self) -> Graph:
        settings = self.settings
        choice = choose_database(settings.database_url, settings.environ)
        try:
            if choice.url is None:
                self._embedded = EmbeddedDatabase(settings.data_dir)
                url = self._embedded.start()
            else:
                url = choice.url
            graph = self._connect(url, create=settings.init_schema and not settings.dry_run)
            self.graph = graph
            self.report.database = (
                graph.description if choice.url else f"embedded PostgreSQL in {settings.data_dir.resolve()}"
            )
            _LOGGER.info("Using %s (%s)", self.report.database, choice.source)
            graph.ensure_schema(migrate=choice.embedded or (settings.init_schema and not settings.dry_run))
            self._schema_ready = True
        except (DatabaseError, EmbeddedDatabaseError, SchemaError) as error:
            raise RunFailed(str(error)) from None
        return graph

    @staticmethod
    def _connect(url: str, *, create: bool) -> Graph:
        """Connect; with ``create`` (--init-schema), create the database first when the server lacks it."""
        try:
            return Graph(url)
        except DatabaseError as error:
            if "does not exist" not in str(error):
                raise
            if not create:
                raise DatabaseError(f"{error}; run with --init-schema to create and migrate it") from None
        create_database(url)
        return Graph(url)

    def _indexes(self, config: Config) -> list[IndexRow]:
        indexes = self._with_reconnect(lambda g: g.indexes())
        if self.settings.dry_run:
            # A dry run registers nothing: show what configured, not yet registered indexes would yield.
            registered = {row.url for row in self._with_reconnect(lambda g: g.indexes(enabled_only=False))}
            indexes += [
                IndexRow(None, c.url, c.warehouse_api_url, c.verify_ssl, c.enabled, c.only_if_package_seen)
                for c in config.indexes
                if c.url not in registered and c.enabled
            ]
        return indexes

    def _close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
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

    # -- helpers shared by the phases -----------------------------------------------------------------------

    def _with_reconnect(self, action: Callable[[Graph], T]) -> T:
        """Run a database action; when the connection is lost, reconnect with backoff and run it again.

        Every action is one transaction (rolled back when the connection broke), so running it again is safe.
        """
        assert self.graph is not None
        delay = RECONNECT_DELAY
        for attempt in range(RECONNECT_ATTEMPTS + 1):
            try:
                return action(self.graph)
            except ConnectionLost as error:
                if attempt == RECONNECT_ATTEMPTS:
                    raise RunFailed(f"{error}; gave up after {RECONNECT_ATTEMPTS} reconnection attempts") from None
                _LOGGER.warning("%s; reconnecting in %.1f s", error, delay)
                self.stop.sleep(delay)
                delay *= 2
                try:
                    self.graph.connect()
                except DatabaseError as reconnect_error:
                    _LOGGER.warning("Reconnection failed: %s", reconnect_error)
        raise AssertionError("unreachable")

    def _client(self, index: IndexRow) -> SimpleIndexClient:
        client = self._clients.get(index.url)
        if client is None:
            if not index.verify_ssl:
                _LOGGER.warning("TLS verification is off for index %s", mask_url(index.url))
            client = SimpleIndexClient(
                index.url,
                verify_ssl=index.verify_ssl,
                timeout=self.settings.timeout,
                concurrency=self.settings.concurrency,
                environ=self.settings.environ,
            )
            self._clients[index.url] = client
        return client

    def _known_names(self) -> set[str]:
        if self._known is None:
            self._known = self._with_reconnect(lambda g: g.known_names())
        return self._known

    def _only_seen(self, index: IndexRow) -> bool:
        return self.settings.only_if_package_seen or index.only_if_package_seen

    def _owned(self, name: str) -> bool:
        return shard_of(name, self.settings.shard_count) == self.settings.shard_index

    def _record(
        self,
        index: IndexRow,
        found: Mapping[str, Iterable[str]],
        pages: Mapping[str, PageValidators],
        notifier: Notifier | None,
    ) -> ChunkOutcome:
        outcome = self._with_reconnect(
            lambda g: g.record(index, found, pages, notifier=notifier, dry_run=self.settings.dry_run)
        )
        # The index URL as stored may carry credentials (the graph is not this job's to police): report it masked.
        shown = mask_url(index.url)
        self.report.new_releases.extend(
            Release(r.package_name, r.package_version, shown) if shown != r.index_url else r
            for r in outcome.new_releases
        )
        for release in outcome.new_releases:
            _LOGGER.debug("New release %s %s on %s", release.package_name, release.package_version, shown)
        return outcome

    def _fetch(
        self,
        index: IndexRow,
        names: Sequence[str],
        validators: Mapping[str, PageValidators],
        report: IndexReport,
        progress: Progress | None = None,
    ) -> tuple[dict[str, tuple[str, ...]], dict[str, PageValidators]]:
        """Fetch project pages concurrently; return versions found and validators to save, counting outcomes."""
        found: dict[str, tuple[str, ...]] = {}
        pages: dict[str, PageValidators] = {}
        client = self._client(index)

        def signalled() -> bool:  # a signal stops at once; the deadline lets a chunk finish
            return self.stop.signal is not None

        results = client.fetch_many(((name, validators.get(name)) for name in names), should_stop=signalled)
        try:
            for result in results:
                self._count(index, result, validators.get(result.project), report, found, pages)
                if progress is not None:
                    progress.advance()
                if signalled():
                    break  # record what arrived, then stop
                if self._index_down(index):
                    client.cancel()
                    break
        finally:
            results.close()
            if signalled():
                client.cancel()
        return found, pages

    def _count(
        self,
        index: IndexRow,
        result: ProjectResult,
        previous: PageValidators | None,
        report: IndexReport,
        found: dict[str, tuple[str, ...]],
        pages: dict[str, PageValidators],
    ) -> None:
        report.packages_checked += 1
        status = result.status
        failures, _ = self._failing.get(index.url, (0, ""))
        self._failing[index.url] = (failures + 1, result.error or "failed") if status is FetchStatus.FAILED else (0, "")
        if status is FetchStatus.OK:
            found[result.project] = result.versions
            pages[result.project] = result.validators
            for raw in result.invalid_versions:
                report.invalid_versions += 1
                self.report.add_error(
                    result.project, mask_url(index.url), f"skipped invalid version {raw!r} (not PEP 440)"
                )
        elif status is FetchStatus.NOT_MODIFIED:
            report.not_modified += 1
            if result.validators != previous:  # e.g. a newer serial; else nothing to save: steady runs write nothing
                pages[result.project] = result.validators
        elif status is FetchStatus.NOT_FOUND:
            report.not_found += 1
        elif status is FetchStatus.STALE:
            report.stale += 1
            self.report.add_error(result.project, mask_url(index.url), mask_text(result.error or "stale page"))
        else:
            report.failed += 1
            reason = mask_text(result.error or "failed")
            self.report.add_error(result.project, mask_url(index.url), reason)
            _LOGGER.warning("%s on %s: %s", result.project, mask_url(index.url), reason)

    # -- feeds --------------------------------------------------------------------------------------------

    def _read_feed(
        self, config: Config, feed: FeedConfig, indexes: Sequence[IndexRow], notifier: Notifier | None
    ) -> None:
        result = fetch_feed(feed, timeout=self.settings.timeout, environ=self.settings.environ)
        report = FeedReport(url=mask_url(feed.url), index_url=feed.index_url, items=len(result.items))
        self.report.feeds.append(report)
        if result.error:
            report.error = result.error
            self.report.add_error(None, feed.index_url, f"feed: {result.error}", source="feed")
            return
        for reason in result.skipped:
            self.report.add_error(None, feed.index_url, f"feed {mask_url(feed.url)}: skipped {reason}", source="feed")
        index = next((row for row in indexes if row.url == feed.index_url), None)
        if index is None:
            report.error = f"index {feed.index_url} is not registered and enabled in the knowledge graph"
            self.report.add_error(None, feed.index_url, f"feed {mask_url(feed.url)}: {report.error}", source="feed")
            return
        monitored = config.monitored_names
        only_seen = self._only_seen(index)
        known = self._known_names() if only_seen else set()
        found: dict[str, set[str]] = defaultdict(set)
        to_check: list[str] = []
        for item in result.items:
            name = item.package_name
            if not self._owned(name) or (only_seen and name not in known and name not in monitored):
                continue
            if item.package_version is None:
                to_check.append(name)  # a new project: its versions come from the index
            else:
                found[name].add(item.package_version)
        pages: dict[str, PageValidators] = {}
        if to_check:
            index_report = IndexReport(url=index.url)
            validators = self._with_reconnect(lambda g: g.page_validators(index.url, to_check))
            fetched, pages = self._fetch(index, sorted(set(to_check)), validators, index_report)
            for name, versions in fetched.items():
                found[name].update(versions)
        outcome = self._record(index, found, pages, notifier)
        report.new_releases = len(outcome.new_releases)

    # -- index scan ---------------------------------------------------------------------------------------

    def _scan_index(self, config: Config, index: IndexRow, notifier: Notifier | None) -> None:
        settings = self.settings
        shown = mask_url(index.url)
        report = IndexReport(url=shown)
        self.report.indexes.append(report)
        client = self._client(index)
        serials: Mapping[str, int] | None = None
        listing_validators: PageValidators | None = None
        if self._only_seen(index):
            names = self._known_names() | config.monitored_names
        else:
            shard = self._shard_label()
            cached = self._with_reconnect(lambda g: g.listing_validators(index.url, shard)) if index.id else None
            listing = client.project_listing(cached)
            report.listing = listing.status.value
            if listing.status is FetchStatus.FAILED:
                report.error = f"project listing: {listing.error or 'failed'}"
                _LOGGER.error("Index %s failed: %s", shown, report.error)
                return
            if listing.status is FetchStatus.NOT_MODIFIED:
                # Nothing changed on the index since the last complete scan: only monitored names are checked.
                names = set(config.monitored_names)
            else:
                names = set(listing.projects) | config.monitored_names
                serials = listing.serials
                listing_validators = listing.validators
        owned = sorted(name for name in names if self._owned(name))
        _LOGGER.info("Checking %d packages on %s", len(owned), shown)
        progress = Progress(shown, len(owned), quiet=settings.quiet)
        try:
            for chunk in chunked(owned, settings.chunk_size):
                if self.stop.requested():
                    break
                self._scan_chunk(index, chunk, serials, report, progress, notifier)
                if self._index_down(index):
                    failures, reason = self._failing[index.url]
                    report.error = f"index unreachable: {failures} requests in a row failed, the last with: {reason}"
                    _LOGGER.error("Giving up index %s: %s", shown, report.error)
                    break
        finally:
            progress.close()
        complete = not self.stop.reason and report.failed == 0 and report.stale == 0
        if listing_validators is not None and complete and not settings.dry_run and index.id is not None:
            saved = listing_validators
            self._with_reconnect(lambda g: g.save_listing_validators(index.url, self._shard_label(), saved))

    def _index_down(self, index: IndexRow) -> bool:
        return self._failing.get(index.url, (0, ""))[0] >= INDEX_DOWN_AFTER

    def _scan_chunk(
        self,
        index: IndexRow,
        chunk: Sequence[str],
        serials: Mapping[str, int] | None,
        report: IndexReport,
        progress: Progress,
        notifier: Notifier | None,
    ) -> None:
        validators = self._with_reconnect(lambda g: g.page_validators(index.url, chunk))
        if serials is not None:
            unchanged = [name for name in chunk if _unchanged(serials.get(name), validators.get(name))]
            if unchanged:
                report.skipped_by_serial += len(unchanged)
                progress.advance(len(unchanged))
                skip = set(unchanged)
                chunk = [name for name in chunk if name not in skip]
        found, pages = self._fetch(index, chunk, validators, report, progress)
        outcome = self._record(index, found, pages, notifier)
        report.new_releases += len(outcome.new_releases)
        progress.advance(0, len(outcome.new_releases))

    # -- notifications, history, metrics ------------------------------------------------------------------

    def _deliver(self, config: Config) -> None:
        if self.stop.requested():
            _LOGGER.warning("Not delivering notifications (%s); they stay queued for the next run", self.stop.reason)
            return
        policy = notifications.DeliveryPolicy(
            max_attempts=self.settings.notification_attempts, timeout=min(self.settings.timeout, 30.0)
        )
        self.report.notifications = self._with_reconnect(
            lambda g: notifications.deliver_pending(
                g,
                config,
                self.settings.environ,
                policy,
                should_stop=self.stop.requested,
                sleep=self.stop.sleep,
                shard_index=self.settings.shard_index,
                shard_count=self.settings.shard_count,
            )
        )

    def _shard_label(self) -> str:
        return f"{self.settings.shard_index}/{self.settings.shard_count}"

    def _remember_run(self) -> None:
        graph = self.graph
        if not self._schema_ready or graph is None or self.settings.dry_run or self.report.skipped:
            return
        if self.report.finished_at is None:  # set by run() before this is called; narrows the type
            return
        try:
            graph.save_run(
                self.report.started_at,
                self.report.finished_at,
                self._shard_label(),
                self.report.succeeded,
                self.report.history_json(),
            )
        except DatabaseError as error:
            _LOGGER.warning("Could not record the run in the job's history: %s", error)

    def _publish_metrics(self) -> None:
        environ = self.settings.environ
        # A dry or skipped run must not replace the metrics of the real runs in the push gateway.
        url = None if self.settings.dry_run or self.report.skipped else metrics.pushgateway_url(environ)
        if url is None and self.settings.metrics_file is None:
            return
        last_success = None
        if self.graph is not None and self._schema_ready:
            try:
                last_success = self.graph.last_successful_run(self._shard_label())
            except DatabaseError as error:
                _LOGGER.debug("No last successful run for the metrics: %s", error)
        registry = metrics.build_registry(self.report, environ=environ, last_success=last_success)
        if url is not None:
            push_error = metrics.push(registry, url, grouping_key={"shard": self._shard_label()}, environ=environ)
            if push_error:
                _LOGGER.warning("%s", push_error)
        if self.settings.metrics_file is not None:
            try:
                metrics.write_file(registry, self.settings.metrics_file)
            except OSError as error:
                _LOGGER.warning("Could not write metrics to %s: %s", self.settings.metrics_file, error.strerror)


def _unchanged(listed_serial: int | None, validators: PageValidators | None) -> bool:
    """Tell whether the listing's serial for a project shows no change since its page was last read."""
    return (
        listed_serial is not None
        and validators is not None
        and validators.serial is not None
        and listed_serial <= validators.serial
    )
