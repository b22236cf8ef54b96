"""Registering the configured indexes, and migrate-only runs (``--init-schema --no-feeds --no-scan``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from thoth.package_releases.config import Config
from thoth.package_releases.phases.ports import StorePort

_LOGGER = logging.getLogger("thoth.package_releases.job")


@dataclass(frozen=True)
class Migration:
    """What a migrate-only run did."""

    database: str
    revision: str | None
    registered: tuple[str, ...]
    configured: int

    def render_text(self) -> str:
        """Return what was done, for people."""
        lines = [f"Migrated {self.database}: thoth-storages schema at revision {self.revision}, job state current."]
        if self.registered:
            lines.append(f"Registered {len(self.registered)} new index(es): {', '.join(self.registered)}.")
        else:
            lines.append(f"Registered no new index ({self.configured} configured, all already registered).")
        return "\n".join(lines) + "\n"


def register_indexes(store: StorePort, config: Config, *, sleep: Callable[[float], None]) -> list[str]:
    """Register the configured indexes the knowledge graph lacks (logging each); return their URLs."""
    registered = store.with_reconnect(lambda: store.graph.register_indexes(config.indexes), sleep=sleep)
    for url in registered:
        _LOGGER.info("Registered index %s in the knowledge graph", url)
    return registered


def migrate_only(store: StorePort, config: Config, database: str, *, sleep: Callable[[float], None]) -> Migration:
    """Register the configured indexes on an already migrated store and say what was done."""
    registered = register_indexes(store, config, sleep=sleep)
    revision = store.with_reconnect(store.graph.revision, sleep=sleep)
    return Migration(database, revision, tuple(registered), len(config.indexes))
