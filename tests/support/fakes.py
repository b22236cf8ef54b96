"""In-memory stand-ins for the edges of a run (database, index clients, feeds), to drive a Job in unit tests.

They satisfy the protocols of ``thoth.package_releases.phases.ports``; the real implementations are covered
by the integration, e2e and fault tests.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Collection, Generator, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TypeVar

from thoth.package_releases.config import INDEX_SETTINGS, FeedConfig, IndexConfig
from thoth.package_releases.phases.ports import (
    Adapters,
    FeedResult,
    FetchStatus,
    IndexClientPort,
    ListingResult,
    ProjectResult,
)
from thoth.package_releases.releases import missing_releases
from thoth.package_releases.sources.feeds import FeedItem
from thoth.package_releases.sources.pages import ProjectPage
from thoth.package_releases.values import (
    NEW_RELEASE,
    ChunkOutcome,
    EntityRule,
    IndexChange,
    IndexRow,
    ListingState,
    Notifier,
    OutboxEntry,
    PageValidators,
    ReleaseEvent,
)

T = TypeVar("T")

FAILING = None  # a project of a FakeIndex whose page cannot be fetched


class FakeGraph:
    """The knowledge graph: index rows and the versions recorded per index id."""

    def __init__(self) -> None:
        self.rows: list[IndexRow] = []
        self.versions: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self.bad_rules: list[EntityRule] = []  # entity rules whose version range is no valid specifier

    def add_index(
        self, url: str, *, enabled: bool = True, only_if_package_seen: bool = False, verify_ssl: bool = True
    ) -> IndexRow:
        """Register an index and return its row."""
        row = IndexRow(len(self.rows) + 1, url, None, verify_ssl, enabled, only_if_package_seen)
        self.rows.append(row)
        return row

    def revision(self) -> str | None:
        return "head"

    def register_indexes(self, configs: Iterable[IndexConfig]) -> list[str]:
        added = []
        for config in configs:
            if all(row.url != config.url for row in self.rows):
                self.add_index(
                    config.url,
                    enabled=config.enabled,
                    only_if_package_seen=config.only_if_package_seen,
                    verify_ssl=config.verify_ssl,
                )
                added.append(config.url)
        return added

    def update_indexes(self, configs: Iterable[IndexConfig], *, dry_run: bool = False) -> list[IndexChange]:
        changes = []
        for config in configs:
            for position, row in enumerate(self.rows):
                if row.url != config.url:
                    continue
                keys = sorted(config.written_keys & set(INDEX_SETTINGS))
                differing = [key for key in keys if getattr(row, key) != getattr(config, key)]
                changes += [IndexChange(row.url, key, getattr(row, key), getattr(config, key)) for key in differing]
                if differing and not dry_run:
                    self.rows[position] = dataclasses.replace(row, **{key: getattr(config, key) for key in differing})
        return changes

    def indexes(self, *, enabled_only: bool = True) -> list[IndexRow]:
        return [row for row in self.rows if row.enabled or not enabled_only]

    def invalid_rules(self) -> list[EntityRule]:
        return list(self.bad_rules)

    def known_names(self) -> set[str]:
        return {name for by_name in self.versions.values() for name, versions in by_name.items() if versions}


class FakeState:
    """The job's own state: validators, an outbox that stays empty, run history, the lock."""

    def __init__(self) -> None:
        self.locked = False
        self.pages: dict[tuple[str, str], PageValidators] = {}
        self.listings: dict[tuple[str, str], ListingState] = {}
        self.runs: list[tuple[str, bool]] = []

    def try_lock(self, shard_index: int = 0, shard_count: int = 1, *, scope: str = "scan") -> bool:
        if self.locked:
            return False
        self.locked = True
        return True

    def page_validators(self, index_url: str, names: Sequence[str]) -> dict[str, PageValidators]:
        return {name: self.pages[index_url, name] for name in names if (index_url, name) in self.pages}

    def page_serials(self, index_url: str, names: Collection[str] | None = None) -> dict[str, int | None]:
        return {
            name: validators.serial
            for (url, name), validators in self.pages.items()
            if url == index_url and (names is None or name in names)
        }

    def page_names(self, index_url: str) -> set[str]:
        return {name for url, name in self.pages if url == index_url}

    def listing_state(self, index_url: str, shard: str) -> ListingState | None:
        return self.listings.get((index_url, shard))

    def save_listing_state(self, index_url: str, shard: str, listing: ListingState) -> None:
        self.listings[index_url, shard] = listing

    def pending_notifications(self) -> Sequence[OutboxEntry]:
        return []

    def mark_notification(self, entry_id: int, *, status: str, attempts: int, error: str | None) -> None:
        raise AssertionError("the fake outbox is empty")

    def outbox_counts(self, shard_index: int = 0, shard_count: int = 1) -> dict[str, int]:
        return {"pending": 0, "sent": 0, "dead": 0}

    def save_run(self, started_at: datetime, finished_at: datetime, shard: str, succeeded: bool, summary: str) -> None:
        self.runs.append((shard, succeeded))

    def last_successful_run(self, shard: str) -> datetime | None:
        return None


class FakeStore:
    """A database in memory; ``recorded`` lists the names of each chunk recorded (one transaction each)."""

    description = "fake database"

    def __init__(self) -> None:
        self.graph = FakeGraph()
        self.state = FakeState()
        self.closed = False
        self.recorded: list[list[str]] = []  # the names of each recorded chunk, in order

    def ensure_schema(self, *, migrate_graph: bool) -> None:
        pass

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
        known = self.graph.versions[index.id] if index.id is not None else {}
        missing = missing_releases(index.url, found, known)
        events = tuple(ReleaseEvent(NEW_RELEASE, r.package_name, r.package_version, r.index_url) for r in missing)
        if dry_run or index.id is None:
            return ChunkOutcome(tuple(missing), 0, events)
        self.recorded.append(sorted(set(found) | set(pages)))
        for release in missing:
            self.graph.versions[index.id][release.package_name].add(release.package_version)
        for name in not_found:  # a project found before answers 404: forgotten, as the real store does
            self.state.pages.pop((index.url, name), None)
        for name, validators in pages.items():
            self.state.pages[index.url, name] = validators
        return ChunkOutcome(tuple(missing), 0, events)

    def with_reconnect(self, action: Callable[[], T], *, sleep: Callable[[float], None]) -> T:
        return action()

    def close(self) -> None:
        self.closed = True


class FakeIndex:
    """An index's client: ``projects`` maps a name to its versions, or to FAILING."""

    def __init__(self, projects: Mapping[str, Sequence[str] | None]) -> None:
        self.projects = dict(projects)
        self.requested: list[str] = []
        self.cancelled = False
        self.closed = False
        self.on_result: Callable[[int], None] = lambda _count: None  # called after each result is taken
        self.listing_serials: Mapping[str, int] | None = None  # a serial per project in the listing (PEP 691)
        self.listing_answers_304 = False  # the listing answers 304 to the validators it gave
        self.listing_requests = 0  # how many times the listing was asked for
        self.listing_error: str | None = None  # why the listing fails (None: it answers)
        self.page_serials: Mapping[str, int] | None = None  # a page's serial (default: its listing serial)

    def fetch_many(
        self,
        items: Iterable[tuple[str, PageValidators | None]],
        *,
        should_stop: Callable[[], bool] | None = None,
    ) -> Generator[ProjectResult, None, None]:
        for name, _validators in items:
            if self.cancelled or (should_stop is not None and should_stop()):
                return
            self.requested.append(name)
            versions = self.projects.get(name, ())
            if versions is FAILING:
                yield ProjectResult(project=name, status=FetchStatus.FAILED, error="HTTP 503")
            elif name not in self.projects:
                yield ProjectResult(project=name, status=FetchStatus.NOT_FOUND)
            else:
                serial = (self.page_serials or self.listing_serials or {}).get(name)
                validators = PageValidators(serial=serial)
                yield ProjectResult(
                    project=name, status=FetchStatus.OK, versions=tuple(versions), validators=validators
                )
            self.on_result(len(self.requested))

    def project_listing(self, validators: PageValidators | None = None) -> ListingResult:
        self.listing_requests += 1
        if self.listing_error is not None:
            return ListingResult(
                status=FetchStatus.FAILED, validators=validators or PageValidators(), error=self.listing_error
            )
        given = PageValidators(etag="L")
        if self.listing_answers_304 and validators == given:
            return ListingResult(status=FetchStatus.NOT_MODIFIED, validators=given)
        serials = self.listing_serials
        return ListingResult(status=FetchStatus.OK, projects=tuple(self.projects), serials=serials, validators=given)

    def cancel(self) -> None:
        self.cancelled = True

    def close(self) -> None:
        self.closed = True


class FakeEdges:
    """The store, the indexes by URL and the feeds by URL a Job is given, and the Adapters that hand them out."""

    def __init__(self) -> None:
        self.store = FakeStore()
        self.indexes: dict[str, FakeIndex] = {}
        self.feeds: dict[str, FeedResult] = {}

    def add_feed(self, url: str, index_url: str, items: Sequence[tuple[str, str | None]]) -> None:
        """Serve a feed announcing (name, version or None) items for an index."""
        entries = tuple(FeedItem(name, version) for name, version in items)
        self.feeds[url] = FeedResult(url=url, index_url=index_url, items=entries)

    def adapters(self) -> Adapters:
        """The factories a Job takes: each returns the fakes above."""

        def index_client(
            index_url: str, *, verify_ssl: bool, timeout: float, concurrency: int, environ: Mapping[str, str]
        ) -> IndexClientPort:
            return self.indexes[index_url]

        def fetch_feed(
            feed: FeedConfig,
            *,
            timeout: float,
            environ: Mapping[str, str],
            should_stop: Callable[[], bool] | None = None,
        ) -> FeedResult:
            return self.feeds.get(feed.url) or FeedResult(url=feed.url, index_url=feed.index_url, error="HTTP 404")

        def create_database(url: str) -> None:
            raise AssertionError("the fake database always exists")

        return Adapters(
            connect_store=lambda _url: self.store,
            create_database=create_database,
            index_client=index_client,
            fetch_feed=fetch_feed,
        )
