"""One run of the job: configuration -> database -> feeds, index scan, delivery -> report, run history, metrics."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from thoth.package_releases import metrics, notifications
from thoth.package_releases.config import Config, ConfigError, load_config
from thoth.package_releases.database import OpenDatabase, open_database
from thoth.package_releases.embedded_db import EmbeddedDatabaseError
from thoth.package_releases.phases.context import RunContext, StopFlag, handling_signals
from thoth.package_releases.phases.delivery import deliver
from thoth.package_releases.phases.feeds import read_feeds
from thoth.package_releases.phases.indexes import prepare_indexes
from thoth.package_releases.phases.migrate import Migration, migrate_only
from thoth.package_releases.phases.ports import Adapters, DatabaseError, SchemaError, StorePort, default_adapters
from thoth.package_releases.phases.scan import ScanPhase
from thoth.package_releases.report import RunReport
from thoth.package_releases.settings import Settings

_LOGGER = logging.getLogger(__name__)


class RunFailed(Exception):
    """The run could not complete (exit code 1); the message is one line for the operator."""


class Job:
    """A single run over the configured feeds and every enabled index."""

    def __init__(self, settings: Settings, *, adapters: Adapters | None = None) -> None:
        self.settings = settings
        self.adapters = adapters if adapters is not None else default_adapters()
        self.report = RunReport(
            started_at=datetime.now(UTC),
            dry_run=settings.dry_run,
            shard_index=settings.shard_index,
            shard_count=settings.shard_count,
        )
        self.stop = StopFlag(settings.deadline)
        self.migration: Migration | None = None
        self._database: OpenDatabase | None = None
        self._context: RunContext | None = None
        self._schema_ready = False

    def run(self) -> RunReport:
        """Do the run and return its report; raises ConfigError (bad configuration) or RunFailed.

        The report is complete (and metrics are published) whatever the outcome; see ``self.report``.
        """
        with handling_signals(self.stop):
            config = self._load_config()
            if config is None:
                return self.report
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

    def _load_config(self) -> Config | None:
        """Return the run's configuration; None when a signal stopped its download (the report says so)."""
        settings = self.settings
        try:
            return load_config(
                settings.config,
                environ=settings.environ,
                timeout=settings.timeout,
                should_stop=self.stop.signalled,
                allow_insecure=settings.allow_insecure_config,
            )
        except ConfigError:
            if self.stop.signal is None:
                raise
            self.report.interrupted = self.stop.reason
            self.report.finished_at = datetime.now(UTC)
            return None

    def _run(self, config: Config) -> None:
        try:
            store = self._open()
            if self.settings.migrate_only:
                self.migration = migrate_only(store, config, self.report.database, sleep=self.stop.sleep)
            else:
                self._phases(config, store)
        except (DatabaseError, EmbeddedDatabaseError, SchemaError) as error:
            raise RunFailed(str(error)) from None

    def _open(self) -> StorePort:
        self._database = database = open_database(self.settings, self.adapters)
        self.report.database = database.description
        _LOGGER.info("Using %s (%s)", database.description, database.source)
        database.store.ensure_schema(migrate_graph=database.migrate_graph)
        self._schema_ready = True
        return database.store

    def _phases(self, config: Config, store: StorePort) -> None:
        settings = self.settings
        scope = "scan" if settings.scan else "feeds"
        if not store.state.try_lock(settings.shard_index, settings.shard_count, scope=scope):
            self.report.skipped = f"another {scope} run holds the lock on {store.description} for this shard"
            _LOGGER.warning("Another run is in progress on %s; nothing to do", store.description)
            return
        self._context = context = RunContext(settings, store, self.report, self.stop, self.adapters.index_client)
        indexes = prepare_indexes(context, config)
        if not indexes:
            _LOGGER.warning("No enabled Python package index is registered in the knowledge graph")
        notifier = notifications.notifier(config) if any(p.triggers for p in config.packages) else None
        scan = ScanPhase(context, config, notifier)
        if settings.feeds:
            read_feeds(context, config, indexes, notifier, fetch_feed=self.adapters.fetch_feed, pages=scan)
        if settings.scan:
            scan.run(indexes)
        deliver(context, config)
        if self.report.every_index_failed and not self.stop.reason:
            failures = "; ".join(f"{i.url}: {i.error or 'every package failed'}" for i in self.report.indexes)
            raise RunFailed(f"every index failed: {failures}")

    def _remember_run(self) -> None:
        report, database = self.report, self._database
        if not self._schema_ready or database is None or self.settings.dry_run or report.skipped or self.migration:
            return
        if report.finished_at is None:  # set by run() before this is called; narrows the type
            return
        try:
            database.store.state.save_run(
                report.started_at,
                report.finished_at,
                self.settings.shard_label,
                report.succeeded,
                report.history_json(),
            )
        except DatabaseError as error:
            _LOGGER.warning("Could not record the run in the job's history: %s", error)

    def _publish_metrics(self) -> None:
        if self.migration is not None:
            return  # a migration is no run of the job: the metrics of the real runs stay
        metrics.publish(
            self.report,
            environ=self.settings.environ,
            metrics_file=self.settings.metrics_file,
            shard=self.settings.shard_label,
            last_success=self._last_success,
        )

    def _last_success(self) -> datetime | None:
        if self._database is None or not self._schema_ready:
            return None
        try:
            return self._database.store.state.last_successful_run(self.settings.shard_label)
        except DatabaseError as error:
            _LOGGER.debug("No last successful run for the metrics: %s", error)
            return None

    def _close(self) -> None:
        if self._context is not None:
            self._context.close_clients()
        if self._database is not None:
            self._database.close()
