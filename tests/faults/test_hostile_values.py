"""Hostile servers, issue 10 (3): values a server sends that reach PostgreSQL or a log unchecked.

A 30-digit serial, a NUL in an ETag, a listing name or a reason phrase: each must be checked or cleaned
before it is stored, the run must end with its report and the rest of its work, and the next run must be clean.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.conftest import Job, KnowledgeGraph
from tests.faults.hostile_fixtures import Serve, assert_no_control_characters, scan_config, write_yaml
from tests.faults.hostile_fixtures import serve as serve  # a fixture
from tests.support.hostile import JSON_TYPE, Index, Reply, Routes, ok, rss

pytestmark = pytest.mark.faults

PROJECTS = {"alpha": ["1.0", "1.1"], "beta": ["2.0"], "gamma": ["0.1", "0.2"]}
ROWS = {(name, version) for name, versions in PROJECTS.items() for version in versions}
NUL_REASON = "Bad\x00Thing"


def test_plain_index_is_recorded_in_full(job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve) -> None:
    """The control case: the same index with nothing hostile in it is recorded whole."""
    index = serve(Index(dict(PROJECTS)).routes())
    config = scan_config(config_path, f"{index.url}/simple")

    result = job.run(config=config, database_url=kg.url)

    assert result.code == 0, result
    assert set(kg.rows(f"{index.url}/simple")) == ROWS


def test_serial_of_30_digits_is_treated_as_absent(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve
) -> None:
    huge = ("X-PyPI-Last-Serial", "9" * 30)
    index = serve(Index(dict(PROJECTS), page_headers={"beta": (huge,)}).routes())
    config = scan_config(config_path, f"{index.url}/simple")

    result = job.run(config=config, database_url=kg.url)
    rerun = job.run(config=config, database_url=kg.url)

    assert result.code == 0, result
    assert set(kg.rows(f"{index.url}/simple")) == ROWS
    assert rerun.code == 0, rerun


def test_etag_with_nul_is_not_stored_and_the_chunk_is_recorded(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve
) -> None:
    index = serve(Index(dict(PROJECTS), page_headers={"beta": (("ETag", '"ab\x00cd"'),)}).routes())
    config = scan_config(config_path, f"{index.url}/simple")

    result = job.run(config=config, database_url=kg.url)
    rerun = job.run(config=config, database_url=kg.url)

    assert result.code == 0, result
    assert set(kg.rows(f"{index.url}/simple")) == ROWS
    assert rerun.code == 0, rerun
    assert_no_control_characters(result.everything)


@pytest.mark.parametrize("dry_run", [False, True], ids=["write", "dry-run"])
def test_listing_name_with_nul_is_skipped_and_the_rest_recorded(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve, dry_run: bool
) -> None:
    index = serve(Index(dict(PROJECTS), listed=["alpha", "be\x00ta", "beta", "gamma"]).routes())
    config = scan_config(config_path, f"{index.url}/simple")
    options = ("--dry-run",) if dry_run else ()

    result = job.run(*options, config=config, database_url=kg.url)
    rerun = job.run(*options, config=config, database_url=kg.url)

    assert result.code == 0, result
    assert rerun.code == 0, rerun
    assert not any("\x00" in path or "%00" in path for path in index.paths), index.paths
    if dry_run:
        assert result.new_releases == ROWS
    else:
        assert set(kg.rows(f"{index.url}/simple")) == ROWS
    assert_no_control_characters(result.everything)


def _feed_config(config_path: Path, feed_url: str, index_url: str) -> str:
    """The feed records onto the (registered) index; ``alpha`` is monitored, so its feed releases count."""
    document = {
        "indexes": [{"url": index_url}],
        "feeds": [{"url": feed_url, "index_url": index_url}],
        "packages": {"alpha": {}},
    }
    return write_yaml(config_path, document)


def test_feed_answering_500_with_nul_in_its_reason_does_not_stop_the_run(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve
) -> None:
    index = serve(Index(dict(PROJECTS)).routes())
    feed = serve(Routes({"/rss.xml": Reply(500, NUL_REASON, (("Content-Type", "text/plain"),), b"no")}))
    config = _feed_config(config_path, f"{feed.url}/rss.xml", f"{index.url}/simple")

    result = job.run("--no-scan", config=config, database_url=kg.url)
    rerun = job.run("--no-scan", config=config, database_url=kg.url)

    assert result.code == 0, result
    assert rerun.code == 0, rerun
    assert "HTTP 500" in (result.report_text or ""), result
    assert_no_control_characters(result.everything)
    assert_no_control_characters(kg.stored_text())


def test_feed_answering_200_is_read(job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve) -> None:
    """The control case of the feed tests: a sane feed gives its releases of monitored packages."""
    index = serve(Index(dict(PROJECTS)).routes())
    feed = serve(Routes({"/rss.xml": ok(rss([("alpha", "3.0"), ("unknown", "1.0")]), "application/rss+xml")}))
    config = _feed_config(config_path, f"{feed.url}/rss.xml", f"{index.url}/simple")

    result = job.run("--no-scan", config=config, database_url=kg.url)

    assert result.code == 0, result
    assert ("alpha", "3.0") in result.new_releases, result


def _hooked_config(config_path: Path, index_url: str, hook_url: str) -> str:
    return scan_config(config_path, index_url, packages={"alpha": {"triggers": [{"url": hook_url}]}})


def test_webhook_answering_500_with_nul_in_its_reason_is_recorded_and_goes_dead(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve
) -> None:
    index = serve(Index(dict(PROJECTS)).routes())
    hook = serve(Routes(fallback=lambda _: Reply(500, NUL_REASON, (("Content-Type", "text/plain"),), b"no")))
    config = _hooked_config(config_path, f"{index.url}/simple", f"{hook.url}/hook")

    result = job.run("--notification-attempts", "1", config=config, database_url=kg.url)
    rerun = job.run("--notification-attempts", "1", config=config, database_url=kg.url)

    assert result.code == 0, result
    assert set(kg.rows(f"{index.url}/simple")) == ROWS
    outbox = kg.outbox_with_errors()
    assert [(name, status, attempts) for name, _, status, attempts, _ in outbox] == [
        ("alpha", "dead", 1),
        ("alpha", "dead", 1),
    ], outbox
    for *_, error in outbox:
        assert error is not None, outbox
        assert "500" in error, outbox
        assert_no_control_characters(error)
    assert rerun.code == 0, rerun
    assert_no_control_characters(result.everything)


def test_webhook_reason_of_60000_characters_is_cut_and_costs_no_time(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve
) -> None:
    index = serve(Index({"alpha": ["1.0"]}).routes())
    long_reason = "x" * 60_000
    hook = serve(Routes(fallback=lambda _: Reply(503, long_reason, (("Content-Type", "text/plain"),), b"no")))
    config = _hooked_config(config_path, f"{index.url}/simple", f"{hook.url}/hook")

    result = job.run("--notification-attempts", "1", config=config, database_url=kg.url, timeout=15)

    assert result.code == 0, result
    assert result.seconds < 12, f"{result.seconds:.1f} s\n{result}"
    ((*_, error),) = kg.outbox_with_errors()
    assert error is not None
    assert len(error) <= 1000, len(error)


def test_json_page_type_is_served(serve: Serve) -> None:
    """The hostile index speaks PEP 691 (a check of the test server itself)."""
    import requests

    index = serve(Index({"alpha": ["1.0"]}).routes())
    response = requests.get(f"{index.url}/simple/alpha/", timeout=5)
    assert response.headers["Content-Type"] == JSON_TYPE
    assert response.json()["versions"] == ["1.0"]
