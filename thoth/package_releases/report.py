"""RunReport: what one run checked, found, wrote, sent and failed at; rendered as text for people and JSON for tools."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, TextIO

from thoth.package_releases.clean import MAX_SHOWN, clean_text
from thoth.package_releases.run_log import HISTORY_RELEASES, EventLog, ReleaseLog, event_document
from thoth.package_releases.values import EntityRule, IndexChange, ReleaseEvent

__all__ = [
    "HISTORY_RELEASES",
    "LISTED_NAMES",
    "ErrorEntry",
    "EventLog",
    "FeedReport",
    "IndexReport",
    "InvalidVersion",
    "NotificationCounts",
    "ReleaseLog",
    "RunReport",
]

# How many new releases the text summary names before it says "and N more".
_SUMMARY_RELEASES = 50
_SUMMARY_ERRORS = 20
_RELEASES_MARKER = "@@new-releases@@"
_EVENTS_MARKER = "@@events@@"
# How many names (projects not on an index, invalid versions, ...) a report lists before it only counts.
LISTED_NAMES = 100


@dataclass(frozen=True)
class InvalidVersion:
    """A version an index lists for a project that is not valid PEP 440 (skipped, not an error)."""

    package_name: str
    version: str


@dataclass
class IndexReport:
    """Counts for one index."""

    url: str
    packages_checked: int = 0
    not_modified: int = 0
    not_found: int = 0
    failed: int = 0
    stale: int = 0
    skipped_by_serial: int = 0
    invalid_versions: int = 0
    new_releases: int = 0
    listing: str | None = None  # ok / not_modified / failed when the project listing was read
    strategy: str | None = None  # "listing" or "projects": how the changed projects were found (issue 14)
    strategy_reason: str | None = None  # why, in one short sentence
    invalid_names: int = 0  # listed names that are no valid project names (skipped)
    invalid_name_examples: list[str] = field(default_factory=list)  # the first few, quoted and escaped
    error: str | None = None
    not_found_names: list[str] = field(default_factory=list)  # the first LISTED_NAMES of them
    invalid_versions_listed: list[InvalidVersion] = field(default_factory=list)  # the first LISTED_NAMES of them

    def add_not_found(self, name: str) -> None:
        """Count a project the index does not have (the first few are named)."""
        self.not_found += 1
        if len(self.not_found_names) < LISTED_NAMES:
            self.not_found_names.append(name)

    def add_invalid_version(self, name: str, version: str) -> None:
        """Count a version that is not valid PEP 440 (the first few are listed); it is skipped, not an error."""
        self.invalid_versions += 1
        if len(self.invalid_versions_listed) < LISTED_NAMES:
            self.invalid_versions_listed.append(InvalidVersion(name, clean_text(version, limit=MAX_SHOWN)))

    @property
    def usable(self) -> bool:
        """Whether this index answered at all (no index-wide error and not every package failed)."""
        if self.error is not None:
            return False
        return not (self.packages_checked > 0 and self.failed == self.packages_checked)


@dataclass
class FeedReport:
    """Counts for one RSS feed."""

    url: str
    index_url: str
    items: int = 0
    new_releases: int = 0
    error: str | None = None


@dataclass(frozen=True)
class ErrorEntry:
    """A per-package (or per-index, with no package) failure, one line, secrets masked."""

    package_name: str | None
    index_url: str | None
    error: str
    source: str = "index"  # "index" (a package's page or the index itself) or "feed"


@dataclass
class NotificationCounts:
    """Outcome of notification delivery in this run, and what is left in the outbox."""

    sent: int = 0
    failed: int = 0
    pending: int = 0
    dead: int = 0


@dataclass
class RunReport:
    """Everything a run did; built by the job, printed by the CLI."""

    started_at: datetime
    dry_run: bool
    database: str = ""
    shard_index: int = 0
    shard_count: int = 1
    finished_at: datetime | None = None
    indexes: list[IndexReport] = field(default_factory=list)
    feeds: list[FeedReport] = field(default_factory=list)
    new_releases: ReleaseLog = field(default_factory=ReleaseLog)
    events: EventLog = field(default_factory=EventLog)
    errors: list[ErrorEntry] = field(default_factory=list)
    index_changes: list[IndexChange] = field(default_factory=list)  # settings the configuration (would) change
    invalid_rules: list[EntityRule] = field(default_factory=list)  # version_range no specifier (first LISTED_NAMES)
    notifications: NotificationCounts = field(default_factory=NotificationCounts)
    skipped: str | None = None
    interrupted: str | None = None
    failure: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.new_releases, ReleaseLog):
            self.new_releases = ReleaseLog(self.new_releases)
        if not isinstance(self.events, EventLog):
            self.events = EventLog(self.events)

    def close(self) -> None:
        """Delete the spool files of the new releases and the events."""
        self.new_releases.close()
        self.events.close()

    def add_events(self, events: Iterable[ReleaseEvent]) -> None:
        """Add release events (in the order found; their index URLs already masked)."""
        self.events.extend(events)

    @property
    def every_index_failed(self) -> bool:
        """Whether indexes were scanned and not one of them was usable."""
        return bool(self.indexes) and not any(index.usable for index in self.indexes)

    @property
    def succeeded(self) -> bool:
        """Whether the run succeeded (the one definition, used by the report, the run history and the metrics).

        It finished, did not fail, was neither skipped nor stopped early, and scanned no index or a usable one.
        """
        return (
            self.finished_at is not None
            and self.failure is None
            and self.interrupted is None
            and self.skipped is None
            and not self.every_index_failed
        )

    def add_error(self, package_name: str | None, index_url: str | None, error: str, *, source: str = "index") -> None:
        """Record a one-line failure (``source``: "index" or "feed"), its text cleaned of control characters."""
        self.errors.append(ErrorEntry(package_name, index_url, clean_text(error), source))

    @property
    def packages_checked(self) -> int:
        """Packages checked over all indexes."""
        return sum(index.packages_checked for index in self.indexes)

    def _document(self, release_limit: int | None) -> dict[str, Any]:
        return {
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "dry_run": self.dry_run,
            "database": self.database,
            "shard": {"index": self.shard_index, "count": self.shard_count},
            "succeeded": self.succeeded,
            "skipped": self.skipped,
            "interrupted": self.interrupted,
            "failure": self.failure,
            "indexes": [asdict(index) for index in self.indexes],
            "feeds": [asdict(feed) for feed in self.feeds],
            "new_release_count": len(self.new_releases),
            "new_releases": (
                _RELEASES_MARKER
                if release_limit is None
                else [asdict(r) for r in self.new_releases.first(release_limit)]
            ),
            "event_counts": self.events.counts(),
            "events": (
                _EVENTS_MARKER
                if release_limit is None
                else [event_document(e) for e in self.events.first(release_limit)]
            ),
            "errors": [asdict(error) for error in self.errors],
            "index_changes": [asdict(change) for change in self.index_changes],
            "invalid_rules": [asdict(rule) for rule in self.invalid_rules],
            "notifications": asdict(self.notifications),
        }

    def write_json(self, stream: TextIO) -> None:
        """Write the report as a JSON document (the ``--report`` format), every new release and event included.

        Releases and events are streamed from their spools, so that a report of any size costs no memory to write.
        """
        tail = json.dumps(self._document(None), indent=2)
        # In the order of the document: new releases, then events.
        for marker, documents in (
            (_RELEASES_MARKER, (asdict(release) for release in self.new_releases)),
            (_EVENTS_MARKER, (event_document(event) for event in self.events)),
        ):
            head, tail = tail.split(json.dumps(marker))
            stream.write(head)
            stream.write("[")
            empty = True
            for document in documents:
                stream.write("\n    " if empty else ",\n    ")
                stream.write(json.dumps(document))
                empty = False
            stream.write("]" if empty else "\n  ]")
        stream.write(tail)
        stream.write("\n")

    def render_json(self) -> str:
        """Return the report as a JSON document (see write_json)."""
        buffer = io.StringIO()
        self.write_json(buffer)
        return buffer.getvalue()

    def history_json(self) -> str:
        """Return the report for the run history: every count, but only the first new releases and events."""
        return json.dumps(self._document(HISTORY_RELEASES))

    def render_text(self) -> str:
        """Return a short human summary of the run."""
        verb = "would insert" if self.dry_run else "inserted"
        lines: list[str] = []
        shard = f" (shard {self.shard_index + 1} of {self.shard_count})" if self.shard_count > 1 else ""
        if self.skipped:
            return f"Package releases{shard}: skipped, {self.skipped}\n"
        duration = (self.finished_at - self.started_at).total_seconds() if self.finished_at else 0.0
        lines.append(
            f"Package releases{shard}{' (dry run)' if self.dry_run else ''}:"
            f" checked {_count(self.packages_checked, 'package')} on {_count(len(self.indexes), 'index', 'indexes')}"
            f" and {_count(len(self.feeds), 'feed')} in {duration:.1f} s;"
            f" {verb} {_releases(len(self.new_releases))}."
        )
        if self.failure:
            lines.append(f"  FAILED: {self.failure}")
        if self.interrupted:
            lines.append(f"  Stopped early ({self.interrupted}); what was committed stays, the next run goes on.")
        for rule in self.invalid_rules:
            lines.append(f"  entity rule {rule.id} ({rule.package_name}): invalid version_range {rule.version_range!r}")
        for change in self.index_changes:
            lines.append(f"  {'would change' if self.dry_run else 'changed'} index {change.describe()}")
        for index in self.indexes:
            if index.error:
                lines.append(f"  index {index.url}: FAILED: {index.error}")
                continue
            lines.append(
                f"  index {index.url}: {index.packages_checked} checked, {index.not_modified} unchanged,"
                f" {index.not_found} not on the index, {index.failed} failed, {index.new_releases} new"
                + (f", {index.skipped_by_serial} skipped (serial unchanged)" if index.skipped_by_serial else "")
                + (f", {index.stale} stale" if index.stale else "")
                + (f", {index.invalid_versions} invalid versions skipped" if index.invalid_versions else "")
                + (f", {index.invalid_names} invalid names skipped" if index.invalid_names else "")
            )
            if index.strategy:
                lines.append(f"    strategy {index.strategy}: {index.strategy_reason}")
        for feed in self.feeds:
            # The feed's error names its URL already; the line does too.
            error = feed.error.removeprefix(f"{feed.url}: ") if feed.error else None
            state = f"FAILED: {error}" if error else f"{_count(feed.items, 'item')}, {feed.new_releases} new"
            lines.append(f"  feed {feed.url}: {state}")
        for release in self.new_releases.first(_SUMMARY_RELEASES):
            lines.append(f"  + {release.package_name} {release.package_version} ({release.index_url})")
        if len(self.new_releases) > _SUMMARY_RELEASES:
            lines.append(f"  ... and {len(self.new_releases) - _SUMMARY_RELEASES} more (see --report)")
        for kind, count in self.events.counts().items():
            if count:
                lines.append(f"  {kind}: {count}")
        counts = self.notifications
        if counts.sent or counts.failed or counts.pending or counts.dead:
            lines.append(
                f"  notifications: {counts.sent} sent, {counts.failed} failed this run,"
                f" {counts.pending} pending, {counts.dead} dead"
            )
        # Feed failures are on their feed's line above; the per-package and index ones are listed here.
        errors = [error for error in self.errors if error.source != "feed"]
        if errors:
            lines.append(f"  {_count(len(errors), 'error')}:")
            for entry in errors[:_SUMMARY_ERRORS]:
                where = " ".join(
                    part for part in (entry.package_name, entry.index_url and f"on {entry.index_url}") if part
                )
                lines.append(f"    {where}: {entry.error}" if where else f"    {entry.error}")
            if len(errors) > _SUMMARY_ERRORS:
                lines.append(f"    ... and {len(errors) - _SUMMARY_ERRORS} more (see --report)")
        return "\n".join(lines) + "\n"


def _count(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def _releases(count: int) -> str:
    if count == 0:
        return "no new releases"
    return f"{count} new release{'s' if count != 1 else ''}"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
