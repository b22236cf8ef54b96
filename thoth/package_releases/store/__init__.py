"""The job's database: the knowledge graph (thoth-storages' tables) and the job's own state, on one connection.

:class:`Store` is what a run holds: it connects, checks or migrates both schemas, records a chunk of an
index in one transaction spanning both, and runs actions again after a lost connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import TypeVar

import psycopg2

from thoth.package_releases.clean import MAX_NAME_LENGTH, clean_text, version_too_long
from thoth.package_releases.release_events import new_release_events
from thoth.package_releases.releases import missing_releases
from thoth.package_releases.store.connection import (
    Connection,
    ConnectionLost,
    DatabaseError,
    create_database,
    describe_url,
    first_line,
)
from thoth.package_releases.store.events import ChunkDetection, detect_chunk
from thoth.package_releases.store.graph import KnowledgeGraph
from thoth.package_releases.store.schema import SchemaError
from thoth.package_releases.store.state import JobState
from thoth.package_releases.values import (
    ChunkOutcome,
    IndexRow,
    Notifier,
    PageValidators,
    ProjectPage,
    Release,
    ReleaseEvent,
)

__all__ = [
    "ConnectionLost",
    "DatabaseError",
    "JobState",
    "KnowledgeGraph",
    "SchemaError",
    "Store",
    "create_database",
    "describe_url",
]

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

# Reconnection after a lost database connection: attempts and first delay (doubled each time).
RECONNECT_ATTEMPTS = 5
RECONNECT_DELAY = 0.5


class Store:
    """A connection to the job's database, with the knowledge graph and the job's state on it."""

    def __init__(self, url: str, *, connect_timeout: int = 10) -> None:
        self._conn = Connection(url, connect_timeout=connect_timeout)
        self.url = url
        self.description = self._conn.description
        self.graph = KnowledgeGraph(self._conn)
        self.state = JobState(self._conn)
        self._conn.connect()

    def connect(self) -> None:
        """Reopen the connection, and take again the run lock held before, if any."""
        self._conn.connect()

    def close(self) -> None:
        """Release the run lock and close the connection."""
        self.state.release_lock()
        self._conn.close()

    def ensure_schema(self, *, migrate_graph: bool) -> None:
        """Check (with ``migrate_graph``: bring) the knowledge graph at thoth-storages' head, then the state schema.

        The job's own state schema is created or migrated whatever ``migrate_graph`` says.
        """
        self.graph.ensure_schema(migrate=migrate_graph)
        self.state.ensure_schema()

    def record(
        self,
        index: IndexRow,
        found: Mapping[str, Iterable[str]],
        pages: Mapping[str, PageValidators],
        *,
        notifier: Notifier | None = None,
        dry_run: bool = False,
        read: Mapping[str, ProjectPage] | None = None,
        not_found: Collection[str] = (),
    ) -> ChunkOutcome:
        """Record one chunk of an index in one transaction and return what was new.

        Inserts the releases in ``found`` (name -> normalized versions) that the graph lacks (but those too long
        for its indexes, which the sources skip already), attaches the entity rules that match them, detects the
        release events of the pages ``read`` (answered ``200``) and of the projects ``not_found`` (``404``),
        sets or clears ``is_missing`` accordingly, keeps the pages' snapshots, queues the notifications
        ``notifier`` asks for, and saves the pages' validators. Rows another run inserted meanwhile are neither
        duplicated nor reported as new. In a dry run nothing is written and what would be new is returned.
        """
        read = read or {}
        names = sorted(set(found) | set(pages) | set(read) | set(not_found))
        if index.id is None:  # an index not registered yet (dry run): all its releases are new, nothing to compare
            return _outcome(_recordable(missing_releases(index.url, found, {})), ChunkDetection(), 0)
        if dry_run:
            with self._conn.read_only() as cursor:
                known = self.graph.known_versions_in(cursor, index.id, names)
                new = _recordable(missing_releases(index.url, found, known))
                detection = detect_chunk(cursor, self.graph, self.state, index, read, not_found, _with(known, new))
            return _outcome(new, detection, 0)

        with self._conn.transaction() as cursor:
            known = self.graph.known_versions_in(cursor, index.id, names)
            missing = _recordable(missing_releases(index.url, found, known))
            inserted = self.graph.insert_entities(cursor, index.id, missing)
            self.graph.attach_rules(cursor, index.id, inserted)
            new = [release for _, release in inserted]
            detection = detect_chunk(cursor, self.graph, self.state, index, read, not_found, _with(known, new))
            self.graph.set_missing_in(cursor, index.id, detection.flags)
            self.state.save_snapshots_in(cursor, index.url, detection.snapshots or {})
            events = _events(new, detection)
            queued = self.state.enqueue(cursor, events, notifier) if notifier else 0
            self.state.forget_pages_in(cursor, index.url, not_found)
            self.state.save_page_state(cursor, index.url, pages)
        return ChunkOutcome(tuple(new), queued, events)

    def with_reconnect(self, action: Callable[[], T], *, sleep: Callable[[float], None]) -> T:
        """Run a database action; when the connection is lost, reconnect with backoff and run it again.

        The action must be one transaction (rolled back when the connection broke), so that running it again
        is safe. When every reconnection failed, ConnectionLost says so; an error of the query itself (the
        connection is fine) is a DatabaseError at once.
        """
        delay = RECONNECT_DELAY
        for attempt in range(RECONNECT_ATTEMPTS + 1):
            try:
                return action()
            except psycopg2.Error as error:  # refused by the server, not lost: never run again
                raise DatabaseError(f"{self.description} refused a query: {first_line(error)}") from None
            except ConnectionLost as error:
                if attempt == RECONNECT_ATTEMPTS:
                    raise ConnectionLost(f"{error}; gave up after {RECONNECT_ATTEMPTS} reconnection attempts") from None
                _LOGGER.warning("%s; reconnecting in %.1f s", error, delay)
                sleep(delay)
                delay *= 2
                try:
                    self.connect()
                except DatabaseError as reconnect_error:
                    _LOGGER.warning("Reconnection failed: %s", reconnect_error)
        raise AssertionError("unreachable")


def _recordable(releases: Iterable[Release]) -> list[Release]:
    """Return the releases whose name and version fit the graph's btree indexes; log the others."""
    kept = []
    for release in releases:
        if len(release.package_name) <= MAX_NAME_LENGTH and not version_too_long(release.package_version):
            kept.append(release)
        else:
            _LOGGER.warning("Not recording a release too long for the graph: %s", clean_text(repr(release), limit=120))
    return kept


def _with(known: Mapping[str, set[str]], new: Iterable[Release]) -> dict[str, set[str]]:
    """Return the graph's versions per name once the new releases are inserted."""
    versions = {name: set(values) for name, values in known.items()}
    for release in new:
        versions.setdefault(release.package_name, set()).add(release.package_version)
    return versions


def _events(new: Sequence[Release], detection: ChunkDetection) -> tuple[ReleaseEvent, ...]:
    """Return every event of a chunk, ``new_release`` ones first."""
    events = (*new_release_events(new), *detection.events)
    _LOGGER.debug("%d release events in the chunk", len(events))
    return events


def _outcome(new: Sequence[Release], detection: ChunkDetection, queued: int) -> ChunkOutcome:
    """Return a chunk's outcome: its new releases, and every event (``new_release`` ones first)."""
    return ChunkOutcome(tuple(new), queued, _events(new, detection))
