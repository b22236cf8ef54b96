"""The spooled logs of a run: its new releases and its release events, every one kept at a bounded memory cost."""

from __future__ import annotations

import io
import json
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar

from thoth.package_releases.values import EVENT_KINDS, Release, ReleaseEvent

# How many of the first items a log keeps at hand: what the run history keeps (it has the counts of all).
HISTORY_RELEASES = 100
SPOOL_IN_MEMORY_BYTES = 8 * 1024 * 1024

T = TypeVar("T")


class _SpooledLog(Generic[T]):
    """Items of a run: counted, the first few kept at hand, every one spooled to a temporary file as a line.

    A first run over a large index finds hundreds of thousands of releases; spooling keeps the job's memory
    bounded by the chunk, not by the index, while the JSON report still lists every one.
    """

    def __init__(self, items: Iterable[T] = ()) -> None:
        self._first: list[T] = []
        self._count = 0
        self._spool: tempfile.SpooledTemporaryFile[str] | None = None
        self.extend(items)

    def _counted(self, item: T) -> None:
        """Count an item in the subclass's own tallies."""

    def _line(self, item: T) -> str:
        """Return an item as one line of the spool (no newline in it)."""
        raise NotImplementedError

    def _item(self, line: str) -> T:
        """Return the item a line of the spool holds."""
        raise NotImplementedError

    def extend(self, items: Iterable[T]) -> None:
        """Add items (in the order found)."""
        lines = []
        for item in items:
            self._count += 1
            self._counted(item)
            if len(self._first) < HISTORY_RELEASES:
                self._first.append(item)
            lines.append(self._line(item) + "\n")
        if lines:
            if self._spool is None:
                # In memory up to a few MB (most runs), then in an unnamed file in $TMPDIR: only a first run over
                # a large index (some 150,000 new releases) ever writes to disk.
                self._spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed by close()
                    max_size=SPOOL_IN_MEMORY_BYTES, mode="w+", encoding="utf-8"
                )
            self._spool.seek(0, io.SEEK_END)
            self._spool.writelines(lines)

    def __len__(self) -> int:
        return self._count

    def first(self, count: int) -> list[T]:
        """Return the first items found (at most ``count``; no more than the run history keeps)."""
        return self._first[:count]

    def __iter__(self) -> Iterator[T]:
        if self._spool is None:
            return
        spool = self._spool
        spool.seek(0)
        try:
            for line in spool:
                yield self._item(line.rstrip("\n"))
        finally:
            if not spool.closed:
                spool.seek(0, io.SEEK_END)  # later items are appended, even after an iteration cut short

    def close(self) -> None:
        """Delete the spool file."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None


class ReleaseLog(_SpooledLog[Release]):
    """The new releases of a run, counted by index (see :class:`_SpooledLog`)."""

    def __init__(self, releases: Iterable[Release] = ()) -> None:
        self.by_index: Counter[str] = Counter()
        super().__init__(releases)

    def _counted(self, item: Release) -> None:
        self.by_index[item.index_url] += 1

    def _line(self, item: Release) -> str:
        # Normalized names and versions and index URLs contain no tab or newline.
        return f"{item.package_name}\t{item.package_version}\t{item.index_url}"

    def _item(self, line: str) -> Release:
        name, version, index_url = line.split("\t")
        return Release(name, version, index_url)


class EventLog(_SpooledLog[ReleaseEvent]):
    """The release events of a run, counted by kind (see :class:`_SpooledLog`)."""

    def __init__(self, events: Iterable[ReleaseEvent] = ()) -> None:
        self.by_kind: Counter[str] = Counter()
        super().__init__(events)

    def counts(self) -> dict[str, int]:
        """Return how many events of each kind the run saw, every kind included (zeros too)."""
        counts = dict.fromkeys(EVENT_KINDS, 0)
        counts.update(self.by_kind)
        return counts

    def _counted(self, item: ReleaseEvent) -> None:
        self.by_kind[item.kind] += 1

    def _line(self, item: ReleaseEvent) -> str:
        # Tab-separated like a release (a first run spools as many new_release events as new releases), an
        # absent version empty (versions never are), the details last as JSON (which escapes tabs and newlines).
        details = json.dumps(item.details) if item.details else ""
        return f"{item.kind}\t{item.package_name}\t{item.package_version or ''}\t{item.index_url}\t{details}"

    def _item(self, line: str) -> ReleaseEvent:
        kind, name, version, index_url, details = line.split("\t", 4)
        return ReleaseEvent(kind, name, version or None, index_url, json.loads(details) if details else {})


def event_document(event: ReleaseEvent) -> dict[str, Any]:
    """Return an event as the report lists it: ``{kind, package_name, package_version, index_url, details}``."""
    return {
        "kind": event.kind,
        "package_name": event.package_name,
        "package_version": event.package_version,
        "index_url": event.index_url,
        "details": dict(event.details),
    }
