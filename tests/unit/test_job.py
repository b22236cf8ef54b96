"""Tests of the orchestration: a Job run with an in-memory store, index clients and feeds (tests.support.fakes)."""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.fakes import FAILING, FakeEdges, FakeIndex
from thoth.package_releases.job import Job, RunFailed
from thoth.package_releases.phases.context import StopFlag
from thoth.package_releases.phases.scan import INDEX_DOWN_AFTER
from thoth.package_releases.settings import Settings
from thoth.package_releases.values import Release

PYPI = "https://pypi.test/simple"
MIRROR = "https://mirror.test/simple"
UPDATES = "https://pypi.test/rss/updates.xml"


@pytest.fixture
def edges() -> FakeEdges:
    return FakeEdges()


def make_job(tmp_path: Path, edges: FakeEdges, config: str, **settings: Any) -> Job:
    """A Job reading ``config`` (YAML) and talking only to the fakes."""
    path = tmp_path / "thoth.yaml"
    path.write_text(config, encoding="utf-8")
    base = Settings(config=str(path), quiet=True, environ={}, database_url="postgresql://fake/graph")
    return Job(dataclasses.replace(base, **settings), adapters=edges.adapters())


def indexes_config(*urls: str) -> str:
    return "indexes:\n" + "".join(f"  - {{url: {url}, only_if_package_seen: false}}\n" for url in urls)


# -- an index going down ---------------------------------------------------------------------------------------


def test_an_index_failing_in_a_row_is_given_up_and_a_run_where_every_index_failed_fails(
    tmp_path: Path, edges: FakeEdges
) -> None:
    down = FakeIndex({f"p{i:03}": FAILING for i in range(120)})
    edges.indexes[PYPI] = down
    job = make_job(tmp_path, edges, indexes_config(PYPI))

    with pytest.raises(RunFailed, match=r"^every index failed: https://pypi.test/simple: index unreachable: 50 "):
        job.run()

    (index,) = job.report.indexes
    assert index.packages_checked == INDEX_DOWN_AFTER == 50
    assert index.failed == 50
    assert index.error == "index unreachable: 50 requests in a row failed, the last with: HTTP 503"
    assert down.requested == [f"p{i:03}" for i in range(50)]  # the other 70 were not attempted
    assert down.cancelled
    assert down.closed
    assert job.report.failure is not None
    assert job.report.failure.startswith("every index failed")
    assert not job.report.succeeded
    assert edges.store.state.runs == [("0/1", False)]  # the failed run is in the history
    assert edges.store.closed


def test_one_index_down_does_not_fail_the_run_when_another_answers(tmp_path: Path, edges: FakeEdges) -> None:
    edges.indexes[PYPI] = FakeIndex({f"p{i:03}": FAILING for i in range(60)})
    edges.indexes[MIRROR] = FakeIndex({"click": ["8.0"]})
    job = make_job(tmp_path, edges, indexes_config(PYPI, MIRROR), chunk_size=20)

    report = job.run()

    down, up = report.indexes
    assert down.error is not None
    assert down.error.startswith("index unreachable: 50 requests in a row failed")
    assert down.packages_checked == 50  # chunks of 20: the third stopped at the 50th failure, none after it
    assert up.error is None
    assert up.new_releases == 1
    assert list(report.new_releases) == [Release("click", "8.0", MIRROR)]
    assert report.failure is None
    assert report.succeeded
    assert edges.store.state.runs == [("0/1", True)]


def test_failures_not_in_a_row_do_not_take_an_index_down(tmp_path: Path, edges: FakeEdges) -> None:
    projects: dict[str, list[str] | None] = {f"p{i:03}": FAILING for i in range(90)}
    projects["p045"] = ["1.0"]  # one answer after 45 failures resets the count: 44 more follow
    edges.indexes[PYPI] = FakeIndex(projects)
    job = make_job(tmp_path, edges, indexes_config(PYPI))

    report = job.run()

    (index,) = report.indexes
    assert index.error is None
    assert index.packages_checked == 90
    assert index.failed == 89
    assert report.succeeded  # the index answered once: it is usable


# -- a signal mid-chunk ----------------------------------------------------------------------------------------


def test_a_signal_mid_chunk_records_what_arrived_and_stops(tmp_path: Path, edges: FakeEdges) -> None:
    index = FakeIndex({f"p{i:03}": ["1.0"] for i in range(30)})
    edges.indexes[PYPI] = index
    job = make_job(tmp_path, edges, indexes_config(PYPI), chunk_size=10)

    def signal_after_the_fifteenth(count: int) -> None:
        if count == 15:
            job.stop.on_signal(signal.SIGTERM, None)

    index.on_result = signal_after_the_fifteenth

    report = job.run()

    assert edges.store.recorded == [
        [f"p{i:03}" for i in range(10)],
        [f"p{i:03}" for i in range(10, 15)],  # the chunk in flight: what arrived before the signal
    ]
    assert len(report.new_releases) == 15
    assert index.requested == [f"p{i:03}" for i in range(15)]
    assert index.cancelled
    assert report.interrupted == "received SIGTERM"
    assert job.stop.signal == signal.SIGTERM
    assert report.failure is None
    assert not report.succeeded
    assert edges.store.state.listings == {}  # an incomplete scan keeps the listing's old validators
    assert edges.store.state.runs == [("0/1", False)]


def test_the_deadline_lets_the_chunk_in_flight_finish(tmp_path: Path, edges: FakeEdges) -> None:
    index = FakeIndex({f"p{i:03}": ["1.0"] for i in range(30)})
    edges.indexes[PYPI] = index
    job = make_job(tmp_path, edges, indexes_config(PYPI), chunk_size=10)

    def deadline_after_the_fifteenth(count: int) -> None:
        if count == 15:
            job.stop.reason = "the --deadline was reached"

    index.on_result = deadline_after_the_fifteenth

    report = job.run()

    assert [len(chunk) for chunk in edges.store.recorded] == [10, 10]
    assert report.interrupted == "the --deadline was reached"
    assert job.stop.signal is None


# -- the project listing and projects not on the index ---------------------------------------------------------


@pytest.mark.parametrize("with_serials", [False, True], ids=["html-listing", "pep691-serials"])
def test_a_304_of_the_listing_skips_projects_only_with_serials_per_project(
    tmp_path: Path, edges: FakeEdges, with_serials: bool
) -> None:
    index = FakeIndex({"click": ["8.0"], "flask": ["3.0"]})
    index.listing_answers_304 = True
    if with_serials:
        index.listing_serials = {"click": 1, "flask": 2}
    edges.indexes[PYPI] = index
    make_job(tmp_path, edges, indexes_config(PYPI)).run()
    index.requested.clear()
    edges.store.state.locked = False  # the first run is over
    index.projects["click"] = ["8.0", "8.1"]  # a static index rewrites click's page, not the root

    report = make_job(tmp_path, edges, indexes_config(PYPI)).run()

    assert report.indexes[0].listing == "not_modified"
    if with_serials:  # the serials proved every project unchanged (they would have grown for click)
        assert index.requested == []
    else:
        assert sorted(index.requested) == ["click", "flask"]
        assert list(report.new_releases) == [Release("click", "8.1", PYPI)]


def test_an_index_without_any_project_checked_is_an_index_error(tmp_path: Path, edges: FakeEdges) -> None:
    edges.indexes[PYPI] = FakeIndex({"click": ["8.0"]})
    edges.indexes[MIRROR] = FakeIndex({})  # e.g. devpi's URL without +simple: every page 404s
    config = indexes_config(PYPI) + f"  - {{url: {MIRROR}}}\npackages:\n  Click: {{}}\n  Flask: {{}}\n"
    job = make_job(tmp_path, edges, config)

    report = job.run()

    good, wrong = report.indexes
    assert (good.error, good.not_found, good.not_found_names) == (None, 1, ["flask"])
    assert wrong.not_found_names == ["click", "flask"]
    assert wrong.error is not None
    assert "none of the 2 projects checked is on the index" in wrong.error
    assert report.succeeded  # the other index answered

    fresh = FakeEdges()
    fresh.indexes[MIRROR] = FakeIndex({})
    alone = make_job(tmp_path, fresh, f"indexes:\n  - {{url: {MIRROR}}}\npackages:\n  Click: {{}}\n")
    with pytest.raises(RunFailed, match=r"^every index failed: https://mirror\.test/simple: none of the 1 projects"):
        alone.run()


# -- index settings written in the configuration -------------------------------------------------------------


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_settings_written_in_the_config_change_a_registered_index(
    tmp_path: Path, edges: FakeEdges, dry_run: bool
) -> None:
    edges.store.graph.add_index(PYPI, enabled=True, only_if_package_seen=True)
    edges.store.graph.add_index(MIRROR, enabled=True, only_if_package_seen=True)
    edges.indexes[PYPI] = FakeIndex({"click": ["8.0"]})
    edges.indexes[MIRROR] = FakeIndex({"flask": ["3.0"]})
    config = f"indexes:\n  - {{url: {PYPI}, only_if_package_seen: false}}\n  - {{url: {MIRROR}, enabled: false}}\n"

    report = make_job(tmp_path, edges, config, dry_run=dry_run).run()

    assert [change.describe() for change in report.index_changes] == [
        f"{PYPI}: only_if_package_seen true -> false (from config)",
        f"{MIRROR}: enabled true -> false (from config)",
    ]
    assert list(report.new_releases) == [Release("click", "8.0", PYPI)]  # every listed project; not the mirror
    rows = [(row.url, row.enabled, row.only_if_package_seen) for row in edges.store.graph.rows]
    if dry_run:
        assert rows == [(PYPI, True, True), (MIRROR, True, True)]  # nothing changed
    else:  # only the keys written were applied
        assert rows == [(PYPI, True, False), (MIRROR, False, True)]
    verb = "would change" if dry_run else "changed"
    assert f"  {verb} index {MIRROR}: enabled true -> false (from config)" in report.render_text()
    assert report.history_json().count("only_if_package_seen") == 1


# -- a dry run -------------------------------------------------------------------------------------------------


def test_a_dry_run_reports_releases_and_writes_nothing(tmp_path: Path, edges: FakeEdges) -> None:
    registered = edges.store.graph.add_index(PYPI)
    edges.store.graph.versions[registered.id or 0]["click"].add("7.0")
    edges.indexes[PYPI] = FakeIndex({"click": ["7.0", "8.0"]})
    edges.indexes[MIRROR] = FakeIndex({"flask": ["3.0"]})  # configured, not registered: shown, not registered
    job = make_job(tmp_path, edges, indexes_config(PYPI, MIRROR), dry_run=True)

    report = job.run()

    assert list(report.new_releases) == [Release("click", "8.0", PYPI), Release("flask", "3.0", MIRROR)]
    assert report.dry_run
    assert report.succeeded
    assert [row.url for row in edges.store.graph.rows] == [PYPI]
    assert edges.store.graph.versions[registered.id or 0] == {"click": {"7.0"}}
    assert edges.store.recorded == []
    assert edges.store.state.pages == {}
    assert edges.store.state.listings == {}
    assert edges.store.state.runs == []


# -- the feeds phase -------------------------------------------------------------------------------------------


FEED_CONFIG = f"""\
indexes:
  - {{url: {PYPI}}}
feeds:
  - {{url: {UPDATES}, index_url: {PYPI}}}
  - {{url: https://pypi.test/rss/broken.xml, index_url: {PYPI}}}
packages:
  tensorflow: {{}}
"""


def test_feeds_record_known_and_monitored_names_and_read_new_projects_from_the_index(
    tmp_path: Path, edges: FakeEdges
) -> None:
    registered = edges.store.graph.add_index(PYPI, only_if_package_seen=True)
    edges.store.graph.versions[registered.id or 0]["click"].add("7.0")
    edges.add_feed(UPDATES, PYPI, [("click", "8.0"), ("tensorflow", "2.0"), ("unknown", "1.0"), ("tensorflow", None)])
    index = FakeIndex({"tensorflow": ["1.0", "2.0"]})
    edges.indexes[PYPI] = index
    job = make_job(tmp_path, edges, FEED_CONFIG, scan=False)

    report = job.run()

    assert index.requested == ["tensorflow"]  # the new project's versions come from the index
    assert sorted(report.new_releases) == [
        Release("click", "8.0", PYPI),
        Release("tensorflow", "1.0", PYPI),
        Release("tensorflow", "2.0", PYPI),
    ]
    updates, broken = report.feeds
    assert (updates.items, updates.new_releases, updates.error) == (4, 3, None)
    assert broken.error == "HTTP 404"
    assert [(e.source, e.error) for e in report.errors] == [("feed", "feed: HTTP 404")]
    assert report.indexes == []  # no scan
    assert report.succeeded


def test_a_feed_of_an_unregistered_index_is_an_error_of_that_feed(tmp_path: Path, edges: FakeEdges) -> None:
    edges.add_feed(UPDATES, PYPI, [("click", "8.0")])
    config = f"indexes:\n  - {{url: {PYPI}, enabled: false}}\nfeeds:\n  - {{url: {UPDATES}, index_url: {PYPI}}}\n"
    job = make_job(tmp_path, edges, config, scan=False)

    report = job.run()

    (feed,) = report.feeds
    assert feed.error == f"index {PYPI} is not registered and enabled in the knowledge graph"
    assert len(report.new_releases) == 0
    assert edges.store.recorded == []


# -- the run lock and migrate-only -----------------------------------------------------------------------------


def test_a_run_finding_the_lock_taken_is_skipped(tmp_path: Path, edges: FakeEdges) -> None:
    edges.store.state.locked = True
    job = make_job(tmp_path, edges, indexes_config(PYPI))

    report = job.run()

    assert report.skipped == "another scan run holds the lock on fake database for this shard"
    assert edges.store.graph.rows == []
    assert edges.store.state.runs == []


def test_migrate_only_registers_the_indexes_and_runs_no_phase(tmp_path: Path, edges: FakeEdges) -> None:
    job = make_job(tmp_path, edges, indexes_config(PYPI, MIRROR), init_schema=True, feeds=False, scan=False)

    job.run()

    assert [row.url for row in edges.store.graph.rows] == [PYPI, MIRROR]
    assert job.migration is not None
    assert job.migration.registered == (PYPI, MIRROR)
    assert "Registered 2 new index(es)" in job.migration.render_text()
    assert not edges.store.state.locked
    assert edges.store.state.runs == []


def test_tls_verification_off_is_logged_for_https_indexes_only(
    tmp_path: Path, edges: FakeEdges, caplog: pytest.LogCaptureFixture
) -> None:
    plain = "http://plain.test/simple"
    edges.indexes[PYPI] = FakeIndex({"alpha": ["1.0"]})
    edges.indexes[plain] = FakeIndex({"alpha": ["1.0"]})
    config = "indexes:\n" + "".join(
        f"  - {{url: {url}, only_if_package_seen: false, verify_ssl: false}}\n" for url in (PYPI, plain)
    )

    make_job(tmp_path, edges, config).run()

    warnings = [record.getMessage() for record in caplog.records if "TLS verification is off" in record.getMessage()]
    assert warnings == [f"TLS verification is off for index {PYPI}"]


def test_a_pause_between_two_requests_ends_at_the_deadline_or_a_signal() -> None:
    stop = StopFlag(0.2)
    started = time.monotonic()
    stop.pause(5)
    assert time.monotonic() - started < 1

    cancelled: list[str] = []
    stop = StopFlag(None)
    stop.on_stop(lambda: cancelled.append("client"))
    # The timer thread wakes the pause as soon as it sets the flag, but goes on to call the listeners and log
    # its warning: join it, or that warning can land in a later test's captured logs (and ``cancelled`` be read
    # before the listener ran).
    signaller = threading.Timer(0.2, stop.on_signal, args=(signal.SIGTERM, None))
    signaller.start()
    try:
        started = time.monotonic()
        stop.pause(5)
        assert time.monotonic() - started < 1
    finally:
        signaller.cancel()
        signaller.join(5)
    assert not signaller.is_alive()
    assert cancelled == ["client"]
