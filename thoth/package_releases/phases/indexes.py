"""The indexes of a run: the configured ones registered or updated, the entity rules checked, the ones to scan."""

from __future__ import annotations

import dataclasses
import logging

from thoth.package_releases.config import INDEX_SETTINGS, Config, IndexConfig
from thoth.package_releases.phases.context import RunContext
from thoth.package_releases.phases.migrate import register_indexes, update_indexes
from thoth.package_releases.report import LISTED_NAMES
from thoth.package_releases.values import IndexRow

_LOGGER = logging.getLogger("thoth.package_releases.job")


def prepare_indexes(context: RunContext, config: Config) -> list[IndexRow]:
    """Register and update the configured indexes, warn of invalid entity rules; return the indexes to check.

    A dry run registers and changes nothing: it reports what it would change and returns the indexes as the
    configuration would leave them.
    """
    settings, store = context.settings, context.store
    if config.indexes:
        if not settings.dry_run:
            register_indexes(store, config, sleep=context.stop.sleep)
        changes = update_indexes(store, config, dry_run=settings.dry_run, sleep=context.stop.sleep)
        context.report.index_changes = changes
    _check_rules(context)
    return _indexes(config, context)


def _check_rules(context: RunContext) -> None:
    """Warn, once per run, of each entity rule whose version range is no specifier: it is attached to nothing."""
    rules = context.db(context.store.graph.invalid_rules)
    context.report.invalid_rules = rules[:LISTED_NAMES]
    for rule in rules[:LISTED_NAMES]:
        _LOGGER.warning(
            "Entity rule %d of %s: version_range %r is not a valid specifier; it applies to no release",
            rule.id,
            rule.package_name,
            rule.version_range,
        )
    if len(rules) > LISTED_NAMES:
        _LOGGER.warning("... and %d more entity rules with an invalid version_range", len(rules) - LISTED_NAMES)


def _indexes(config: Config, context: RunContext) -> list[IndexRow]:
    graph = context.store.graph
    if not context.settings.dry_run:
        return context.db(graph.indexes)
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


def _as_configured(row: IndexRow, config: IndexConfig | None) -> IndexRow:
    """Return a registered index with the settings its configuration writes (what a real run would apply)."""
    if config is None:
        return row
    return dataclasses.replace(
        row, **{key: getattr(config, key) for key in INDEX_SETTINGS if key in config.written_keys}
    )
