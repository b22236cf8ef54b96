"""Registering the configured indexes, and migrate-only runs (``--init-schema --no-feeds --no-scan``)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

from thoth.package_releases.config import Config
from thoth.package_releases.phases.ports import StorePort
from thoth.package_releases.redact import mask_url
from thoth.package_releases.values import IndexChange

_LOGGER = logging.getLogger("thoth.package_releases.job")


@dataclass(frozen=True)
class Migration:
    """What a migrate-only run did."""

    database: str
    revision: str | None
    registered: tuple[str, ...]
    configured: int
    changes: tuple[IndexChange, ...] = ()

    def render_text(self) -> str:
        """Return what was done, for people."""
        lines = [f"Migrated {self.database}: thoth-storages schema at revision {self.revision}, job state current."]
        if self.registered:
            lines.append(f"Registered {len(self.registered)} new index(es): {', '.join(self.registered)}.")
        else:
            lines.append(f"Registered no new index ({self.configured} configured, all already registered).")
        lines += [f"Changed index {change.describe()}." for change in self.changes]
        return "\n".join(lines) + "\n"


def register_indexes(store: StorePort, config: Config, *, sleep: Callable[[float], None]) -> list[str]:
    """Register the configured indexes the knowledge graph lacks (logging each); return their URLs."""
    registered = store.with_reconnect(lambda: store.graph.register_indexes(config.indexes), sleep=sleep)
    for url in registered:
        _LOGGER.info("Registered index %s in the knowledge graph", mask_url(url))
    return registered


def update_indexes(
    store: StorePort, config: Config, *, dry_run: bool, sleep: Callable[[float], None]
) -> list[IndexChange]:
    """Apply the settings the configuration writes to registered indexes (logging each change); return them.

    The changes name the index URL masked. A dry run changes nothing and logs what it would change.
    """
    graph = store.graph
    changes = store.with_reconnect(lambda: graph.update_indexes(config.indexes, dry_run=dry_run), sleep=sleep)
    shown = [dataclasses.replace(change, url=mask_url(change.url)) for change in changes]
    for change in shown:
        _LOGGER.info("%s%s", "Dry run, would change index " if dry_run else "Changed index ", change.describe())
    return shown


def migrate_only(store: StorePort, config: Config, database: str, *, sleep: Callable[[float], None]) -> Migration:
    """Register the configured indexes on an already migrated store, apply their settings, say what was done."""
    registered = register_indexes(store, config, sleep=sleep)
    changes = update_indexes(store, config, dry_run=False, sleep=sleep)
    revision = store.with_reconnect(store.graph.revision, sleep=sleep)
    return Migration(database, revision, tuple(registered), len(config.indexes), tuple(changes))
