"""One run of the job: configuration -> database -> feeds, index scan, delivery -> report, run history, metrics."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime

from thoth.package_releases import metrics, notifications
from thoth.package_releases.config import INDEX_SETTINGS, Config, ConfigError, IndexConfig, load_config
from thoth.package_releases.database import OpenDatabase, open_database
from thoth.package_releases.embedded_db import EmbeddedDatabaseError
from thoth.package_releases.phases.context import RunContext, StopFlag, handling_signals
from thoth.package_releases.phases.delivery import deliver
from thoth.package_releases.phases.feeds import read_feeds
from thoth.package_releases.phases.migrate import Migration, migrate_only, register_indexes, update_indexes
from thoth.package_releases.phases.ports import Adapters, DatabaseError, SchemaError, StorePort, default_adapters
from thoth.package_releases.phases.scan import ScanPhase
from thoth.package_releases.report import LISTED_NAMES, RunReport
from thoth.package_releases.settings import Settings
from thoth.package_releases.values import IndexRow

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
        if config.indexes:
            if not settings.dry_run:
                register_indexes(store, config, sleep=self.stop.sleep)
            changes = update_indexes(store, config, dry_run=settings.dry_run, sleep=self.stop.sleep)
            self.report.index_changes = changes
        self._context = context = RunContext(settings, store, self.report, self.stop, self.adapters.index_client)
        self._check_rules(context)
        indexes = self._indexes(config, context)
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

    def _check_rules(self, context: RunContext) -> None:
        """Warn, once per run, of each entity rule whose version range is no specifier: it is attached to nothing."""
        rules = context.db(context.store.graph.invalid_rules)
        self.report.invalid_rules = rules[:LISTED_NAMES]
        for rule in rules[:LISTED_NAMES]:
            _LOGGER.warning(
                "Entity rule %d of %s: version_range %r is not a valid specifier; it applies to no release",
                rule.id,
                rule.package_name,
                rule.version_range,
            )
        if len(rules) > LISTED_NAMES:
            _LOGGER.warning("... and %d more entity rules with an invalid version_range", len(rules) - LISTED_NAMES)

    def _indexes(self, config: Config, context: RunContext) -> list[IndexRow]:
        graph = context.store.graph
        if not self.settings.dry_run:
            return context.db(graph.indexes)
        # A dry run registers and changes nothing: show what the indexes as configured would yield.
        configured = {c.url: c for c in config.indexes}
        rows = context.db(lambda: graph.indexes(enabled_only=False))
        indexes = [row for row in (_as_configured(row, configured.get(row.url)) for row in rows) if row.enabled]
        registered = {row.url for row in rows}
        indexes += [
            IndexRow(None, c.url, c.warehouse_api_url, c.verify_ssl, c.enabled, c.only_if_package_seen)
            for c in config.indexes
            if c.url not in registered and c.enabled
        ]
        return indexes

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


def _as_configured(row: IndexRow, config: IndexConfig | None) -> IndexRow:
    """Return a registered index with the settings its configuration writes (what a real run would apply)."""
    if config is None:
        return row
    return dataclasses.replace(
        row, **{key: getattr(config, key) for key in INDEX_SETTINGS if key in config.written_keys}
    )
