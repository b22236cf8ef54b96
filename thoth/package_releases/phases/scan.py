"""The index scan: per index, the names to check (listing, serials), then pages fetched and recorded chunk by chunk.

Also the rules both page-fetching phases follow: how a fetch result counts in the report, and when an
index is taken as down.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from thoth.package_releases.clean import MAX_VERSION_LENGTH, clean_text, shown, version_too_long
from thoth.package_releases.config import Config
from thoth.package_releases.phases.context import RunContext
from thoth.package_releases.phases.ports import FetchStatus, ProjectResult
from thoth.package_releases.progress import Progress
from thoth.package_releases.redact import mask_text, mask_url
from thoth.package_releases.releases import chunked
from thoth.package_releases.report import IndexReport
from thoth.package_releases.values import IndexRow, Notifier, PageValidators

_LOGGER = logging.getLogger("thoth.package_releases.job")

# How many of a project's invalid versions the report names one by one (all are counted).
INVALID_VERSIONS_LISTED = 10
# An index whose requests failed this many times in a row (after their own retries) is taken as down: the
# rest of it is not attempted, rather than spending every package's retries and backoff on a dead host.
INDEX_DOWN_AFTER = 50


class ScanPhase:
    """Fetches and records project pages; scans whole indexes. One per run (it tracks failures in a row)."""

    def __init__(self, context: RunContext, config: Config, notifier: Notifier | None) -> None:
        self._context = context
        self._config = config
        self._notifier = notifier
        self._failing: dict[str, tuple[int, str]] = {}  # index URL -> (failures in a row, last reason)

    def run(self, indexes: Sequence[IndexRow]) -> None:
        """Scan every index in turn, until the run is asked to stop."""
        for index in indexes:
            if self._context.stop.requested():
                break
            self.scan_index(index)

    def index_down(self, index: IndexRow) -> bool:
        """Whether so many requests to an index failed in a row that the rest of it is not attempted."""
        return self._failing.get(index.url, (0, ""))[0] >= INDEX_DOWN_AFTER

    def scan_index(self, index: IndexRow) -> None:
        """Check one index's packages (this shard's part), chunk by chunk; an index-wide failure is its report's."""
        context = self._context
        settings = context.settings
        shown = mask_url(index.url)
        report = IndexReport(url=shown)
        context.report.indexes.append(report)
        client = context.client(index)
        serials: Mapping[str, int] | None = None
        listing_validators: PageValidators | None = None
        if context.only_seen(index):
            names = context.known_names() | self._config.monitored_names
        else:
            state = context.store.state
            shard = settings.shard_label
            cached = context.db(lambda: state.listing_validators(index.url, shard)) if index.id else None
            listing = client.project_listing(cached)
            report.listing = listing.status.value
            if listing.status is FetchStatus.FAILED:
                report.error = f"project listing: {listing.error or 'failed'}"
                _LOGGER.error("Index %s failed: %s", shown, report.error)
                return
            if listing.status is FetchStatus.NOT_MODIFIED:
                # Nothing changed on the index since the last complete scan: only monitored names are checked.
                names = set(self._config.monitored_names)
            else:
                names = set(listing.projects) | self._config.monitored_names
                serials = listing.serials
                listing_validators = listing.validators
                _note_invalid_names(report, listing.invalid_names, listing.invalid_examples)
        owned = sorted(name for name in names if context.owned(name))
        _LOGGER.info("Checking %d packages on %s", len(owned), shown)
        progress = Progress(shown, len(owned), quiet=settings.quiet)
        try:
            for chunk in chunked(owned, settings.chunk_size):
                if context.stop.requested():
                    break
                self._scan_chunk(index, chunk, serials, report, progress)
                if self.index_down(index):
                    failures, reason = self._failing[index.url]
                    report.error = f"index unreachable: {failures} requests in a row failed, the last with: {reason}"
                    _LOGGER.error("Giving up index %s: %s", shown, report.error)
                    break
        finally:
            progress.close()
        complete = not context.stop.reason and report.failed == 0 and report.stale == 0
        if listing_validators is not None and complete and not settings.dry_run and index.id is not None:
            saved, state = listing_validators, context.store.state
            context.db(lambda: state.save_listing_validators(index.url, settings.shard_label, saved))

    def _scan_chunk(
        self,
        index: IndexRow,
        chunk: Sequence[str],
        serials: Mapping[str, int] | None,
        report: IndexReport,
        progress: Progress,
    ) -> None:
        context = self._context
        state = context.store.state
        validators = context.db(lambda: state.page_validators(index.url, chunk))
        if serials is not None:
            unchanged_names = [name for name in chunk if unchanged(serials.get(name), validators.get(name))]
            if unchanged_names:
                report.skipped_by_serial += len(unchanged_names)
                progress.advance(len(unchanged_names))
                skip = set(unchanged_names)
                chunk = [name for name in chunk if name not in skip]
        found, pages = self.fetch(index, chunk, validators, report, progress)
        outcome = context.record(index, found, pages, self._notifier)
        report.new_releases += len(outcome.new_releases)
        progress.advance(0, len(outcome.new_releases))

    def fetch(
        self,
        index: IndexRow,
        names: Sequence[str],
        validators: Mapping[str, PageValidators],
        report: IndexReport,
        progress: Progress | None = None,
    ) -> tuple[dict[str, tuple[str, ...]], dict[str, PageValidators]]:
        """Fetch project pages concurrently; return versions found and validators to save, counting outcomes.

        A signal stops the fetching at once (what arrived is returned, to be recorded); so does the index going down.
        """
        found: dict[str, tuple[str, ...]] = {}
        pages: dict[str, PageValidators] = {}
        stop = self._context.stop
        client = self._context.client(index)
        results = client.fetch_many(((name, validators.get(name)) for name in names), should_stop=stop.signalled)
        try:
            for result in results:
                self._count(index, result, validators.get(result.project), report, found, pages)
                if progress is not None:
                    progress.advance()
                if stop.signalled():
                    break  # record what arrived, then stop
                if self.index_down(index):
                    client.cancel()
                    break
        finally:
            results.close()
            if stop.signalled():
                client.cancel()
        return found, pages

    def _count(
        self,
        index: IndexRow,
        result: ProjectResult,
        previous: PageValidators | None,
        report: IndexReport,
        found: dict[str, tuple[str, ...]],
        pages: dict[str, PageValidators],
    ) -> None:
        run_report = self._context.report
        report.packages_checked += 1
        status = result.status
        failures, _ = self._failing.get(index.url, (0, ""))
        self._failing[index.url] = (failures + 1, result.error or "failed") if status is FetchStatus.FAILED else (0, "")
        if status is FetchStatus.OK:
            found[result.project] = result.versions
            pages[result.project] = result.validators
            report.invalid_versions += len(result.invalid_versions)
            for raw in result.invalid_versions[:INVALID_VERSIONS_LISTED]:
                why = f"longer than {MAX_VERSION_LENGTH} characters" if version_too_long(raw) else "not PEP 440"
                message = f"skipped invalid version {shown(raw)} ({why})"
                run_report.add_error(result.project, mask_url(index.url), message)
            if len(result.invalid_versions) > INVALID_VERSIONS_LISTED:
                more = len(result.invalid_versions) - INVALID_VERSIONS_LISTED
                run_report.add_error(result.project, mask_url(index.url), f"skipped {more} more invalid versions")
        elif status is FetchStatus.NOT_MODIFIED:
            report.not_modified += 1
            if result.validators != previous:  # e.g. a newer serial; else nothing to save: steady runs write nothing
                pages[result.project] = result.validators
        elif status is FetchStatus.NOT_FOUND:
            report.not_found += 1
        elif status is FetchStatus.STALE:
            report.stale += 1
            stale = mask_text(clean_text(result.error or "stale page"))
            run_report.add_error(result.project, mask_url(index.url), stale)
        else:
            report.failed += 1
            reason = mask_text(clean_text(result.error or "failed"))
            run_report.add_error(result.project, mask_url(index.url), reason)
            _LOGGER.warning("%s on %s: %s", result.project, mask_url(index.url), reason)


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


def unchanged(listed_serial: int | None, validators: PageValidators | None) -> bool:
    """Tell whether the listing's serial for a project shows no change since its page was last read."""
    return (
        listed_serial is not None
        and validators is not None
        and validators.serial is not None
        and listed_serial <= validators.serial
    )
