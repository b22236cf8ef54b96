"""TEMPORARY (issue 9): the old graph.Graph dressed as the Store of store/ (see notes/CONTRACTS.md).

Only until the branch that replaces graph.py by store/ is merged: then ``phases/ports.py`` imports
``store.Store`` instead, and this module is deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from thoth.package_releases.graph import ConnectionLost, DatabaseError, Graph
from thoth.package_releases.values import ChunkOutcome, IndexRow, Notifier, PageValidators

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

RECONNECT_ATTEMPTS = 5
RECONNECT_DELAY = 0.5


class _Graph(Graph):
    """Graph with the method names of store/'s KnowledgeGraph."""

    def revision(self) -> str | None:
        """Return the knowledge graph's alembic revision."""
        return self.knowledge_graph_revision()


class Store:
    """One connection serving as both the knowledge graph and the job's state, as store.Store will."""

    def __init__(self, url: str, *, connect_timeout: int = 10) -> None:
        self._db = _Graph(url, connect_timeout=connect_timeout)
        self.url = url
        self.description = self._db.description
        self.graph = self._db
        self.state = self._db

    def connect(self) -> None:
        """Reconnect (re-taking the run lock held)."""
        self._db.connect()

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def ensure_schema(self, *, migrate_graph: bool) -> None:
        """Check (or migrate) the knowledge graph and the state schema."""
        self._db.ensure_schema(migrate=migrate_graph)

    def record(
        self,
        index: IndexRow,
        found: Mapping[str, Iterable[str]],
        pages: Mapping[str, PageValidators],
        *,
        notifier: Notifier | None = None,
        dry_run: bool = False,
    ) -> ChunkOutcome:
        """Record one chunk of an index in one transaction."""
        return self._db.record(index, found, pages, notifier=notifier, dry_run=dry_run)

    def with_reconnect(self, action: Callable[[], T], *, sleep: Callable[[float], None]) -> T:
        """Run one transactional action; on a lost connection reconnect with backoff and run it again."""
        delay = RECONNECT_DELAY
        for attempt in range(RECONNECT_ATTEMPTS + 1):
            try:
                return action()
            except ConnectionLost as error:
                if attempt == RECONNECT_ATTEMPTS:
                    raise ConnectionLost(f"{error}; gave up after {RECONNECT_ATTEMPTS} reconnection attempts") from None
                _LOGGER.warning("%s; reconnecting in %.1f s", error, delay)
                sleep(delay)
                delay *= 2
                try:
                    self._db.connect()
                except DatabaseError as reconnect_error:
                    _LOGGER.warning("Reconnection failed: %s", reconnect_error)
        raise AssertionError("unreachable")
