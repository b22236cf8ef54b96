"""Plain values that cross module boundaries (HTTP side, database side, job): no I/O, no imports of the package."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final


@dataclass(frozen=True, order=True)
class Release:
    """One release of a project on an index, with name and version already normalized."""

    package_name: str
    package_version: str
    index_url: str


@dataclass(frozen=True, slots=True)
class DistributionFile:
    """One file a project page lists: its name, its SHA-256, whether it is yanked and why.

    ``sha256`` is lower-case hex, None when the page gives no valid one. ``yanked_reason`` is the PEP 592 reason
    (cleaned, at most ``sources.pages.MAX_YANK_REASON`` characters), None when the file is not yanked or the page
    gives none.
    """

    filename: str
    sha256: str | None = None
    yanked: bool = False
    yanked_reason: str | None = None


@dataclass(frozen=True)
class ProjectPage:
    """A project page: the files it lists, the valid (normalized, sorted) and invalid (raw) versions, the serial."""

    name: str
    files: tuple[DistributionFile, ...]
    versions: tuple[str, ...]
    invalid_versions: tuple[str, ...]
    serial: int | None


@dataclass(frozen=True)
class EntityRule:
    """A row of thoth-storages' ``python_package_version_entity_rule`` table."""

    id: int
    package_name: str
    version_range: str | None
    index_id: int | None


@dataclass(frozen=True)
class PageValidators:
    """What the job remembers about a page between runs, to make the next request conditional."""

    etag: str | None = None
    last_modified: str | None = None
    serial: int | None = None


@dataclass(frozen=True)
class ListingState:
    """What the job remembers about an index's project listing between runs.

    ``project_serials`` tells whether the listing carried a serial for every project (PEP 691 ``_last-serial``):
    only then does a ``304`` of the listing prove every project unchanged. None: not known (recorded before
    the job kept it), so the listing is asked for without validators.
    """

    validators: PageValidators
    project_serials: bool | None = None


@dataclass(frozen=True)
class IndexRow:
    """A Python package index as registered in ``python_package_index`` (id is None when not registered yet)."""

    id: int | None
    url: str
    warehouse_api_url: str | None
    verify_ssl: bool
    enabled: bool
    only_if_package_seen: bool


@dataclass(frozen=True)
class IndexChange:
    """A setting of a registered index that the configuration changes (or, in a dry run, would change)."""

    url: str
    key: str
    old: str | bool | None
    new: str | bool | None

    def describe(self) -> str:
        """Return the change in one line: ``URL: key old -> new (from config)``."""
        return f"{self.url}: {self.key} {_shown(self.old)} -> {_shown(self.new)} (from config)"


def _shown(value: str | bool | None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else value


@dataclass(frozen=True)
class OutboxEntry:
    """A notification waiting in the outbox: trigger ``trigger_key`` for one release event (its kind, its details)."""

    id: int
    trigger_key: str
    event: ReleaseEvent
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class ChunkOutcome:
    """What recording one chunk of an index changed (or, in a dry run, would change)."""

    new_releases: tuple[Release, ...]
    notifications_queued: int
    # Every event of the chunk, ``new_release`` ones included (one per new release).
    events: tuple[ReleaseEvent, ...] = ()


# The kinds of release events (issue 13), in the order reports list them.
NEW_RELEASE: Final = "new_release"
YANKED: Final = "yanked"
UNYANKED: Final = "unyanked"
NEW_FILES: Final = "new_files"
MISSING_VERSION: Final = "missing_version"
REAPPEARED: Final = "reappeared"
MISSING_PACKAGE: Final = "missing_package"
HASH_MISMATCH: Final = "hash_mismatch"
EVENT_KINDS: Final = (
    NEW_RELEASE,
    YANKED,
    UNYANKED,
    NEW_FILES,
    MISSING_VERSION,
    REAPPEARED,
    MISSING_PACKAGE,
    HASH_MISMATCH,
)


@dataclass(frozen=True)
class ReleaseEvent:
    """Something that happened to a release (or, for ``missing_package``, a whole project) on an index.

    ``kind`` is one of :data:`EVENT_KINDS`; ``package_version`` is None for ``missing_package``. ``details`` is a
    small JSON object: ``{"reason": str | None}`` for ``yanked``; ``{"files": [{"filename", "sha256"}]}`` for
    ``new_files``; ``{"missing_on_index": [sha256...], "missing_in_graph": [sha256...]}`` for ``hash_mismatch``;
    ``{}`` for the other kinds.
    """

    kind: str
    package_name: str
    package_version: str | None
    index_url: str
    details: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=True)


Notifier = Callable[[ReleaseEvent], Sequence[str]]
"""Maps a release event to the keys of the triggers it must fire."""
