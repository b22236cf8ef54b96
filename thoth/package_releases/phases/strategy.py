"""Which projects of an index a run requests: the strategy (listing or projects), why, and the projects chosen.

``listing`` reads the index's project listing (conditionally) and requests only the projects whose listed serial
(PEP 691 ``_last-serial``) is above the one stored for their page; ``projects`` sends a conditional request per
project. ``auto`` takes the listing when the index offers serials and more projects are to be checked than
``Settings.listing_threshold`` (in all-packages mode the listing is read for the names anyway: it is used
whenever it carries serials). A listing whose serials went backwards (a stale CDN copy) is not trusted.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

from thoth.package_releases.phases.context import RunContext
from thoth.package_releases.phases.ports import FetchStatus, ListingResult
from thoth.package_releases.report import IndexReport
from thoth.package_releases.values import IndexRow, ListingState

_LOGGER = logging.getLogger("thoth.package_releases.job")

LISTING = "listing"
PROJECTS = "projects"
# The stored validators are read this many projects at a time when the listing chooses what to request; more
# names than this to check, the stored serials of the index are read in one pass instead (one query, not many).
SELECT_BATCH = 5_000


@dataclass
class ScanPlan:
    """What a run requests on one index (this shard's part), and the listing to remember after a complete scan."""

    strategy: str
    reason: str
    names: list[str] = field(default_factory=list)  # sorted
    remembered: ListingState | None = None


@dataclass
class _Selection:
    """The projects a listing chose; ``backwards`` names a project whose listed serial is below the stored one."""

    chosen: list[str] = field(default_factory=list)
    skipped: int = 0
    absent: list[str] = field(default_factory=list)  # not listed, never found, not monitored: not on the index
    unserialed: int = 0  # chosen for want of a stored serial
    backwards: str | None = None


class ScanPlanner:
    """Chooses, per index, the strategy and the projects to request; counts what it settles in the index's report."""

    def __init__(self, context: RunContext, monitored: Collection[str]) -> None:
        self._context = context
        self._monitored = monitored

    def plan(self, index: IndexRow, report: IndexReport) -> ScanPlan | None:
        """Return the plan of an index; None when its listing, needed for the names, failed (the report says why)."""
        context = self._context
        state, shard = context.store.state, context.settings.shard_label
        cached = context.db(lambda: state.listing_state(index.url, shard)) if index.id else None
        if context.only_seen(index):
            plan: ScanPlan | None = self._plan_seen(index, report, cached)
        else:
            plan = self._plan_all(index, report, cached)
        if plan is not None:
            report.strategy, report.strategy_reason = plan.strategy, plan.reason
            _LOGGER.info("Index %s: strategy %s: %s", report.url, plan.strategy, plan.reason)
        return plan

    # -- only_if_package_seen: the known and monitored names -------------------------------------------------

    def _plan_seen(self, index: IndexRow, report: IndexReport, cached: ListingState | None) -> ScanPlan:
        context = self._context
        known = context.known_names()
        names = [name for name in known if context.owned(name)]
        names += [name for name in self._monitored if name not in known and context.owned(name)]
        names.sort()
        strategy, threshold = context.settings.scan_strategy, context.settings.listing_threshold
        if strategy == PROJECTS:
            return ScanPlan(PROJECTS, "--scan-strategy projects", names)
        if strategy != LISTING:
            if len(names) <= threshold:
                reason = f"{len(names)} projects to check, not above the threshold of {threshold} for the listing"
                return ScanPlan(PROJECTS, reason, names)
            if cached is not None and cached.project_serials is False:
                return ScanPlan(PROJECTS, "the index's listing carries no serial per project", names)
        listing = self._read_listing(index, report, cached)
        if listing.status is FetchStatus.FAILED:
            reason = f"the listing could not be read ({listing.error or 'failed'}): every project is requested"
            _LOGGER.warning("Index %s: %s", report.url, reason)
            return ScanPlan(PROJECTS, reason, names)
        if listing.status is FetchStatus.NOT_MODIFIED:
            if cached is None or not cached.project_serials:
                return ScanPlan(PROJECTS, "the listing is unchanged but carries no serial per project", names)
            stored = self._stored_for(index, names)
            selection = self._select(index, ((name, None) for name in names), listed=False, stored=stored)
            if selection.unserialed <= threshold:
                reason = "the listing is unchanged: only monitored projects and those without a stored serial"
                return self._listing_plan(report, selection, reason, None)
            # Too many names with no stored serial to request one by one: the whole listing settles them.
            listing = self._read_listing(index, report, None)
            if listing.status is not FetchStatus.OK:
                return ScanPlan(PROJECTS, "the listing could not be read again: every project is requested", names)
        if strategy == LISTING:
            return self._from_listing(index, report, cached, listing, names, "--scan-strategy listing")
        reason = f"{len(names)} projects to check, above the threshold of {threshold}: one listing costs less"
        return self._from_listing(index, report, cached, listing, names, reason)

    # -- all-packages mode: every listed name ----------------------------------------------------------------

    def _plan_all(self, index: IndexRow, report: IndexReport, cached: ListingState | None) -> ScanPlan | None:
        context = self._context
        listing = self._read_listing(index, report, cached)
        if listing.status is FetchStatus.FAILED:
            report.error = f"project listing: {listing.error or 'failed'}"
            _LOGGER.error("Index %s failed: %s", report.url, report.error)
            return None
        use_serials = context.settings.scan_strategy != PROJECTS
        if listing.status is FetchStatus.NOT_MODIFIED:
            monitored = sorted(name for name in self._monitored if context.owned(name))
            if use_serials and cached is not None and cached.project_serials:
                reason = "the listing is unchanged and carries serials: only monitored projects"
                return ScanPlan(LISTING, reason, monitored)
            state = context.store.state
            pages = context.db(lambda: state.page_names(index.url))
            names = sorted({name for name in pages if context.owned(name)}.union(monitored))
            if not use_serials:
                return ScanPlan(PROJECTS, "--scan-strategy projects (the listing is unchanged)", names)
            return ScanPlan(PROJECTS, "the listing is unchanged but carries no serial per project", names)
        state = context.store.state
        stored = context.db(lambda: state.page_serials(index.url))
        dropped = self._dropped(index, listing.projects, stored)
        if listing.serials is None or not use_serials:
            names = [*self._listed(listing.projects), *dropped]
            names.sort()
            reason = "the listing carries no serial per project" if use_serials else "--scan-strategy projects"
            return ScanPlan(PROJECTS, reason, names, ListingState(listing.validators, listing.serials is not None))
        forced = context.settings.scan_strategy == LISTING
        reason = "--scan-strategy listing" if forced else "the listing, read for the names anyway, carries serials"
        return self._from_listing(index, report, cached, listing, None, reason, dropped=dropped, stored=stored)

    def _dropped(self, index: IndexRow, projects: Sequence[str], stored: Mapping[str, int | None]) -> list[str]:
        """Return this shard's projects found on an index before that its listing no longer lists, sorted.

        ``stored``: the serials stored for the index's projects. The projects dropped are requested once more:
        their ``404`` is a ``missing_package`` event (issue 13), and forgets them.
        """
        if index.id is None:
            return []
        context = self._context
        found = set(stored)
        found.difference_update(projects)
        return sorted(name for name in found if name not in self._monitored and context.owned(name))

    def _listed(self, projects: Iterable[str]) -> Iterator[str]:
        """Yield this shard's listed names, then its monitored names the listing lacks (the listing is not copied)."""
        owned = self._context.owned
        extra = {name for name in self._monitored if owned(name)}
        for name in projects:
            if owned(name):
                extra.discard(name)
                yield name
        yield from sorted(extra)

    def _with_serials(
        self, serials: Mapping[str, int], names: list[str] | None, dropped: Sequence[str] = ()
    ) -> Iterator[tuple[str, int | None]]:
        """Yield the names to check that the listing has, with their serials, then (with None) those it lacks.

        ``names``: the names to check (None: every listed name of this shard, and its monitored names). One pass
        over the listing, with no lookup in it (a lookup in the compact listing is a bisection); ``serials`` has
        every listed name.
        """
        owned = self._context.owned
        wanted = set(names) if names is not None else None
        missing = wanted if wanted is not None else {name for name in self._monitored if owned(name)}.union(dropped)
        for name, serial in serials.items():
            if name in wanted if wanted is not None else owned(name):
                missing.discard(name)
                yield name, serial
        for name in sorted(missing):
            yield name, None

    # -- the listing's serials -----------------------------------------------------------------------------

    def _from_listing(
        self,
        index: IndexRow,
        report: IndexReport,
        cached: ListingState | None,
        listing: ListingResult,
        names: list[str] | None,
        reason: str,
        *,
        dropped: Sequence[str] = (),
        stored: Mapping[str, int | None] | None = None,
    ) -> ScanPlan:
        """Plan from a listing read in full: by its serials when they are trustworthy, else every project.

        ``names``: those to check (only_if_package_seen mode), their serials looked up; None: every listed name.
        ``stored``: the serials stored for the index's projects, when already read.
        """
        remembered = ListingState(listing.validators, project_serials=listing.serials is not None)
        serials = listing.serials
        if serials is None:
            everything = names if names is not None else sorted([*self._listed(listing.projects), *dropped])
            return ScanPlan(PROJECTS, "the listing carries no serial per project", everything, remembered)
        old, new = cached.validators.serial if cached else None, listing.validators.serial
        selection = _Selection() if old is not None and new is not None and new < old else None
        if selection is None:
            if stored is None and names is not None:
                stored = self._stored_for(index, names)
            entries = self._with_serials(serials, names, dropped)
            selection = self._select(index, entries, listed=True, stored=stored)
        else:
            selection.backwards = f"serial {new} below the last listing's {old}"
        if selection.backwards is None:
            return self._listing_plan(report, selection, reason, remembered)
        reason = f"the listing's serials went backwards ({selection.backwards}): not trusted, all projects requested"
        _LOGGER.warning("Index %s: %s", report.url, reason)
        everything = names if names is not None else sorted([*self._listed(listing.projects), *dropped])
        return ScanPlan(PROJECTS, reason, everything)

    def _stored_for(self, index: IndexRow, names: Collection[str]) -> Mapping[str, int | None] | None:
        """Return the serials stored for many names, read in one pass; None for few (read per batch then)."""
        if len(names) <= SELECT_BATCH:
            return None
        state, wanted = self._context.store.state, set(names)
        return self._context.db(lambda: state.page_serials(index.url, wanted))

    def _batch_serials(self, index: IndexRow, names: list[str]) -> dict[str, int | None]:
        """Return the serials stored for a batch of names (None: stored with no serial; absent: none stored)."""
        state = self._context.store.state
        stored = self._context.db(partial(state.page_validators, index.url, names))
        return {name: validators.serial for name, validators in stored.items()}

    def _select(
        self,
        index: IndexRow,
        entries: Iterable[tuple[str, int | None]],
        *,
        listed: bool,
        stored: Mapping[str, int | None] | None = None,
    ) -> _Selection:
        """Choose the projects to request from (name, listed serial or None) entries, against the stored serials.

        ``listed`` False: the listing is unchanged since the last run (it answered 304; no serials come with it).
        Chosen: a listed serial above the stored one, no stored serial, or (unchanged listing) a monitored name;
        a name the listing lacks is chosen when it was found before or is monitored, else it is not on the index.
        ``stored``: the serials stored for the index's projects, read already; None: read per batch of entries.
        """
        selection, monitored = _Selection(), self._monitored
        iterator = iter(entries)
        while batch := list(itertools.islice(iterator, SELECT_BATCH)):
            known = stored if stored is not None else self._batch_serials(index, [name for name, _ in batch])
            for name, serial_listed in batch:
                found = name in known
                serial = known.get(name)
                if listed and serial_listed is None:
                    if not found and name not in monitored:
                        selection.absent.append(name)
                        continue
                    selection.chosen.append(name)
                elif serial is None:
                    selection.unserialed += 1
                    selection.chosen.append(name)
                elif serial_listed is not None and serial_listed < serial:
                    selection.backwards = f"{name} listed at {serial_listed}, stored at {serial}"
                    return selection
                elif unchanged(serial_listed, serial) if listed else name not in monitored:
                    selection.skipped += 1
                else:
                    selection.chosen.append(name)
        return selection

    def _listing_plan(
        self, report: IndexReport, selection: _Selection, reason: str, remembered: ListingState | None
    ) -> ScanPlan:
        """Count what the listing settled (unchanged, not on the index) and plan the rest."""
        report.skipped_by_serial += selection.skipped
        for name in selection.absent:
            report.packages_checked += 1
            report.add_not_found(name)
        selection.chosen.sort()
        return ScanPlan(LISTING, reason, selection.chosen, remembered)

    def _read_listing(self, index: IndexRow, report: IndexReport, cached: ListingState | None) -> ListingResult:
        """Read the index's listing, conditionally when it is known whether it carries serials; count it."""
        # Not knowing whether the remembered listing had serials per project, ask for the whole listing again.
        validators = cached.validators if cached is not None and cached.project_serials is not None else None
        listing = self._context.client(index).project_listing(validators)
        report.listing = listing.status.value
        if listing.status is FetchStatus.OK:
            _note_invalid_names(report, listing.invalid_names, listing.invalid_examples)
        return listing


def _note_invalid_names(report: IndexReport, count: int, examples: Sequence[str]) -> None:
    """Count the listed names that are no project names in the index's report, with one warning line."""
    if not count:
        return
    report.invalid_names = count
    report.invalid_name_examples = list(examples)
    more = ", ..." if count > len(examples) else ""
    _LOGGER.warning(
        "Index %s lists %d invalid project name(s), skipped: %s%s", report.url, count, ", ".join(examples), more
    )


def unchanged(listed_serial: int | None, stored_serial: int | None) -> bool:
    """Tell whether the listing's serial for a project shows no change since its page was last read."""
    return listed_serial is not None and stored_serial is not None and listed_serial <= stored_serial
