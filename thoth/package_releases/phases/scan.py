"""The index scan: per index, the plan of what to request (phases.strategy), then pages fetched and recorded by chunk.

Also the rules both page-fetching phases follow: how a fetch result counts in the report, and when an
index is taken as down.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from thoth.package_releases.clean import MAX_VERSION_LENGTH, clean_text, shown, version_too_long
from thoth.package_releases.config import Config
from thoth.package_releases.phases.context import RunContext
from thoth.package_releases.phases.ports import FetchStatus, ProjectPage, ProjectResult
from thoth.package_releases.phases.strategy import ScanPlanner
from thoth.package_releases.progress import Progress
from thoth.package_releases.redact import mask_text, mask_url
from thoth.package_releases.releases import chunked
from thoth.package_releases.report import IndexReport
from thoth.package_releases.values import IndexRow, Notifier, PageValidators

_LOGGER = logging.getLogger("thoth.package_releases.job")

# An index whose requests failed this many times in a row (after their own retries) is taken as down: the
# rest of it is not attempted, rather than spending every package's retries and backoff on a dead host.
INDEX_DOWN_AFTER = 50


@dataclass
class Fetched:
    """What fetching a chunk's pages brought: versions found, validators to save, pages read (200), 404s."""

    found: dict[str, tuple[str, ...]] = field(default_factory=dict)
    validators: dict[str, PageValidators] = field(default_factory=dict)
    pages: dict[str, ProjectPage] = field(default_factory=dict)
    not_found: list[str] = field(default_factory=list)  # answered 404, found before


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
        plan = ScanPlanner(context, self._config.monitored_names).plan(index, report)
        if plan is None:
            return
        _LOGGER.info("Checking %d packages on %s", len(plan.names), shown)
        progress = Progress(shown, len(plan.names), quiet=settings.quiet)
        try:
            for chunk in chunked(plan.names, settings.chunk_size):
                if context.stop.requested():
                    break
                self._scan_chunk(index, chunk, report, progress)
                if self.index_down(index):
                    failures, reason = self._failing[index.url]
                    report.error = f"index unreachable: {failures} requests in a row failed, the last with: {reason}"
                    _LOGGER.error("Giving up index %s: %s", shown, report.error)
                    break
        finally:
            progress.close()
        self._summarize(report)
        complete = not context.stop.reason and report.failed == 0 and report.stale == 0
        remembered = plan.remembered
        if remembered is not None and complete and not settings.dry_run and index.id is not None:
            state = context.store.state
            context.db(lambda: state.save_listing_state(index.url, settings.shard_label, remembered))

    @staticmethod
    def _summarize(report: IndexReport) -> None:
        """Log the invalid versions and the projects not on the index; the URL is wrong when none checked is there."""
        if report.invalid_versions:
            listed = report.invalid_versions_listed
            more = report.invalid_versions - len(listed)
            _LOGGER.info(
                "%d versions not valid PEP 440 skipped on %s: %s%s",
                report.invalid_versions,
                report.url,
                ", ".join(f"{entry.package_name} {entry.version!r}" for entry in listed),
                f" and {more} more" if more > 0 else "",
            )
        if not report.not_found:
            return
        more = report.not_found - len(report.not_found_names)
        _LOGGER.info(
            "%d not on the index %s: %s%s",
            report.not_found,
            report.url,
            ", ".join(report.not_found_names),
            f" and {more} more" if more > 0 else "",
        )
        # Projects skipped as unchanged by their listed serial are on the index: then the URL is right.
        if report.error is None and report.not_found == report.packages_checked and not report.skipped_by_serial:
            report.error = (
                f"none of the {report.packages_checked} projects checked is on the index:"
                " is the URL the simple API's (e.g. devpi's ends in /+simple)?"
            )
            _LOGGER.warning("Index %s: %s", report.url, report.error)

    def _scan_chunk(
        self,
        index: IndexRow,
        chunk: Sequence[str],
        report: IndexReport,
        progress: Progress,
    ) -> None:
        context = self._context
        state = context.store.state
        validators = context.db(lambda: state.page_validators(index.url, chunk))
        fetched = self.fetch(index, chunk, validators, report, progress)
        outcome = context.record(
            index, fetched.found, fetched.validators, self._notifier, read=fetched.pages, not_found=fetched.not_found
        )
        report.new_releases += len(outcome.new_releases)
        progress.advance(0, len(outcome.new_releases))

    def fetch(
        self,
        index: IndexRow,
        names: Sequence[str],
        validators: Mapping[str, PageValidators],
        report: IndexReport,
        progress: Progress | None = None,
    ) -> Fetched:
        """Fetch project pages concurrently; return what they hold (versions, pages, validators), counting outcomes.

        A signal stops the fetching at once (what arrived is returned, to be recorded); so does the index going down.
        """
        fetched = Fetched()
        stop = self._context.stop
        client = self._context.client(index)
        results = client.fetch_many(((name, validators.get(name)) for name in names), should_stop=stop.signalled)
        try:
            for result in results:
                self._count(index, result, validators.get(result.project), report, fetched)
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
        return fetched

    def _count(
        self,
        index: IndexRow,
        result: ProjectResult,
        previous: PageValidators | None,
        report: IndexReport,
        fetched: Fetched,
    ) -> None:
        run_report = self._context.report
        report.packages_checked += 1
        status = result.status
        failures, _ = self._failing.get(index.url, (0, ""))
        self._failing[index.url] = (failures + 1, result.error or "failed") if status is FetchStatus.FAILED else (0, "")
        if status is FetchStatus.OK:
            fetched.found[result.project] = result.versions
            fetched.validators[result.project] = result.validators
            if result.page is not None:
                fetched.pages[result.project] = result.page
            too_long: list[str] = []
            for raw in result.invalid_versions:  # skipped and listed, not an error: it would be one on every run
                if version_too_long(raw):
                    too_long.append(raw)
                else:
                    report.add_invalid_version(result.project, raw)
            if too_long:  # a release the graph cannot hold is lost: an error, counted like an invalid version
                report.invalid_versions += len(too_long)
                message = f"skipped {len(too_long)} version(s) longer than {MAX_VERSION_LENGTH} characters"
                message += f", e.g. {shown(too_long[0])}"
                run_report.add_error(result.project, mask_url(index.url), message)
        elif status is FetchStatus.NOT_MODIFIED:
            report.not_modified += 1
            if result.validators != previous:  # e.g. a newer serial; else nothing to save: steady runs write nothing
                fetched.validators[result.project] = result.validators
        elif status is FetchStatus.NOT_FOUND:
            report.add_not_found(result.project)
            if previous is not None:  # found before: compared (missing_package), then forgotten
                fetched.not_found.append(result.project)
        elif status is FetchStatus.STALE:
            report.stale += 1
            stale = mask_text(clean_text(result.error or "stale page"))
            run_report.add_error(result.project, mask_url(index.url), stale)
        else:
            report.failed += 1
            reason = mask_text(clean_text(result.error or "failed"))
            run_report.add_error(result.project, mask_url(index.url), reason)
            _LOGGER.warning("%s on %s: %s", result.project, mask_url(index.url), reason)
