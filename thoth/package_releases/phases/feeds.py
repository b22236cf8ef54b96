"""The feeds phase: each RSS feed's releases of this shard's (known or monitored) names, recorded on its index."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from thoth.package_releases.config import Config, FeedConfig
from thoth.package_releases.phases.context import RunContext
from thoth.package_releases.phases.ports import FeedFetcher
from thoth.package_releases.phases.scan import ScanPhase
from thoth.package_releases.redact import mask_url
from thoth.package_releases.report import FeedReport, IndexReport
from thoth.package_releases.values import IndexRow, Notifier, PageValidators


def read_feeds(
    context: RunContext,
    config: Config,
    indexes: Sequence[IndexRow],
    notifier: Notifier | None,
    *,
    fetch_feed: FeedFetcher,
    pages: ScanPhase,
) -> None:
    """Read every configured feed in turn (until the run is asked to stop) and record what they announce.

    A feed item with no version (a new project) has its versions read from the index, through ``pages``.
    """
    for feed in config.feeds:
        if context.stop.requested():
            break
        _read_feed(context, config, feed, indexes, notifier, fetch_feed, pages)


def _read_feed(
    context: RunContext,
    config: Config,
    feed: FeedConfig,
    indexes: Sequence[IndexRow],
    notifier: Notifier | None,
    fetch_feed: FeedFetcher,
    pages: ScanPhase,
) -> None:
    run_report = context.report
    settings = context.settings
    result = fetch_feed(feed, timeout=settings.timeout, environ=settings.environ, should_stop=context.stop.signalled)
    report = FeedReport(url=mask_url(feed.url), index_url=feed.index_url, items=len(result.items))
    run_report.feeds.append(report)
    if result.error:
        report.error = result.error
        run_report.add_error(None, feed.index_url, f"feed: {result.error}", source="feed")
        return
    for reason in result.skipped:
        run_report.add_error(None, feed.index_url, f"feed {mask_url(feed.url)}: skipped {reason}", source="feed")
    index = next((row for row in indexes if row.url == feed.index_url), None)
    if index is None:
        report.error = f"index {feed.index_url} is not registered and enabled in the knowledge graph"
        run_report.add_error(None, feed.index_url, f"feed {mask_url(feed.url)}: {report.error}", source="feed")
        return
    monitored = config.monitored_names
    only_seen = context.only_seen(index)
    known = context.known_names() if only_seen else set()
    found: dict[str, set[str]] = defaultdict(set)
    to_check: list[str] = []
    for item in result.items:
        name = item.package_name
        if not context.owned(name) or (only_seen and name not in known and name not in monitored):
            continue
        if item.package_version is None:
            to_check.append(name)  # a new project: its versions come from the index
        else:
            found[name].add(item.package_version)
    validators_to_save: dict[str, PageValidators] = {}
    if to_check:
        state = context.store.state
        validators = context.db(lambda: state.page_validators(index.url, to_check))
        fetched = pages.fetch(index, sorted(set(to_check)), validators, IndexReport(url=index.url))
        validators_to_save = fetched.validators
        for name, versions in fetched.found.items():  # versions only: the feeds carry new releases, no other event
            found[name].update(versions)
    outcome = context.record(index, found, validators_to_save, notifier)
    report.new_releases = len(outcome.new_releases)
