"""What the orchestrator needs from the database and the HTTP side: small interfaces, and the real adapters.

The phases are written against these protocols only, so that a run can be driven in a unit test by an
in-memory store and index client. The block of imports below is the one place naming the concrete modules.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from thoth.package_releases.config import FeedConfig, IndexConfig
from thoth.package_releases.values import (
    ChunkOutcome,
    EntityRule,
    IndexChange,
    IndexRow,
    ListingState,
    Notifier,
    OutboxEntry,
    PageValidators,
)

# isort: split
# -- the concrete modules: the only imports of them in the orchestration --------------------------------------
from thoth.package_releases.sources.feeds import FeedResult, fetch_feed
from thoth.package_releases.sources.index import FetchStatus, ListingResult, ProjectResult, SimpleIndexClient
from thoth.package_releases.sources.pages import ProjectPage
from thoth.package_releases.store import ConnectionLost, DatabaseError, SchemaError, Store, create_database

__all__ = [
    "Adapters",
    "ConnectionLost",
    "DatabaseError",
    "FeedFetcher",
    "FeedResult",
    "FetchStatus",
    "GraphPort",
    "IndexClientFactory",
    "IndexClientPort",
    "ListingResult",
    "ProjectPage",
    "ProjectResult",
    "SchemaError",
    "StatePort",
    "StorePort",
    "default_adapters",
]

T = TypeVar("T")


class GraphPort(Protocol):
    """The knowledge graph (thoth-storages' tables) as the run uses it."""

    def revision(self) -> str | None:
        """Return the graph's alembic revision (None without a schema)."""

    def register_indexes(self, configs: Iterable[IndexConfig]) -> list[str]:
        """Insert the configured indexes the graph lacks; return their URLs."""

    def update_indexes(self, configs: Iterable[IndexConfig], *, dry_run: bool = False) -> list[IndexChange]:
        """Apply the settings the configuration writes to the registered indexes; return the changes."""

    def indexes(self, *, enabled_only: bool = True) -> list[IndexRow]:
        """Return the registered (by default only the enabled) indexes."""

    def known_names(self) -> set[str]:
        """Return every package name the graph holds a version of."""

    def invalid_rules(self) -> list[EntityRule]:
        """Return the entity rules whose version range is no valid specifier."""


class StatePort(Protocol):
    """The job's own state (validators, outbox, run history, run lock) as the run uses it."""

    def try_lock(self, shard_index: int = 0, shard_count: int = 1, *, scope: str = "scan") -> bool:
        """Take the run lock of a shard and scope; False when another run holds it."""

    def page_validators(self, index_url: str, names: Sequence[str]) -> dict[str, PageValidators]:
        """Return the validators remembered for these projects of an index."""

    def page_serials(self, index_url: str, names: Collection[str] | None = None) -> dict[str, int | None]:
        """Return the serial (None when unknown) remembered for each project of an index (or of ``names``)."""

    def page_names(self, index_url: str) -> set[str]:
        """Return every project of an index whose page validators are remembered."""

    def listing_state(self, index_url: str, shard: str) -> ListingState | None:
        """Return what a shard remembered of an index's project listing."""

    def save_listing_state(self, index_url: str, shard: str, listing: ListingState) -> None:
        """Remember an index's project listing (validators, serials per project or not) for a shard."""

    def pending_notifications(self) -> Sequence[OutboxEntry]:
        """Return the queued notifications, oldest first."""

    def mark_notification(self, entry_id: int, *, status: str, attempts: int, error: str | None) -> None:
        """Record the outcome of delivering a notification."""

    def outbox_counts(self, shard_index: int = 0, shard_count: int = 1) -> dict[str, int]:
        """Return how many notifications of a shard are pending, sent and dead."""

    def save_run(self, started_at: datetime, finished_at: datetime, shard: str, succeeded: bool, summary: str) -> None:
        """Keep a line of history for a finished run."""

    def last_successful_run(self, shard: str) -> datetime | None:
        """Return when the last successful run of a shard finished."""


class StorePort(Protocol):
    """A connected database: the knowledge graph, the job's state, and one-transaction recording."""

    @property
    def description(self) -> str:
        """Host and database, safe to log."""

    @property
    def graph(self) -> GraphPort:
        """The knowledge graph."""

    @property
    def state(self) -> StatePort:
        """The job's own state."""

    def ensure_schema(self, *, migrate_graph: bool) -> None:
        """Check (``migrate_graph``: migrate) the graph's schema; bring the state schema current."""

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
        """Record one chunk of an index in one transaction and return what was (or would be) new.

        ``read``: the pages answered 200 and ``not_found``: the projects answered 404, whose release events
        the outcome carries.
        """

    def with_reconnect(self, action: Callable[[], T], *, sleep: Callable[[float], None]) -> T:
        """Run one transactional action, reconnecting and running it again when the connection is lost."""

    def close(self) -> None:
        """Close the connection."""


class IndexClientPort(Protocol):
    """A client of one index's simple API."""

    def fetch_many(
        self,
        items: Iterable[tuple[str, PageValidators | None]],
        *,
        should_stop: Callable[[], bool] | None = None,
    ) -> Generator[ProjectResult, None, None]:
        """Yield one result per (project, validators) item, concurrently, in order of completion."""

    def project_listing(self, validators: PageValidators | None = None) -> ListingResult:
        """Return the projects the index lists (conditional on the validators)."""

    def cancel(self) -> None:
        """Make requests in flight give up (the run is stopping)."""

    def close(self) -> None:
        """Release threads and connections."""


class IndexClientFactory(Protocol):
    """Builds the client of one index."""

    def __call__(
        self, index_url: str, *, verify_ssl: bool, timeout: float, concurrency: int, environ: Mapping[str, str]
    ) -> IndexClientPort:
        """Return a client for the index at ``index_url``."""


class FeedFetcher(Protocol):
    """Downloads and parses one feed; a failure is the result's ``error``."""

    def __call__(
        self,
        feed: FeedConfig,
        *,
        timeout: float,
        environ: Mapping[str, str],
        should_stop: Callable[[], bool] | None = None,
    ) -> FeedResult:
        """Return the items of a feed, or why it could not be read (cut short when ``should_stop()`` turns true)."""


@dataclass(frozen=True)
class Adapters:
    """The edges a run talks to: replaced by in-memory fakes in unit tests."""

    connect_store: Callable[[str], StorePort]
    create_database: Callable[[str], None]
    index_client: IndexClientFactory
    fetch_feed: FeedFetcher


def default_adapters() -> Adapters:
    """Return the real database, index client and feed reader."""
    return Adapters(
        connect_store=Store, create_database=create_database, index_client=SimpleIndexClient, fetch_feed=fetch_feed
    )
