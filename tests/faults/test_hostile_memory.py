"""Hostile servers, issue 10 (5): pages that are small on the wire and huge once read.

The job's peak resident memory is measured from outside the process (VmHWM polled from /proc, and
``ru_maxrss`` when it is reaped): it must stay under ``MEMORY_LIMIT_MB`` (the pod's limit is 384Mi)
whatever the servers send; a page beyond a bound is a one-line error of its project and the rest of the run
is recorded. A run whose peak passes the limit is killed at once (the test fails there, not minutes later).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.conftest import Job, KnowledgeGraph
from tests.faults.hostile_fixtures import MEMORY_LIMIT_MB, Measured, Serve, run_measured, scan_config, write_yaml
from tests.faults.hostile_fixtures import serve as serve  # a fixture
from tests.support.hostile import HTML_TYPE, JSON_TYPE, Index, bomb_reply, html_anchors, json_page, ok

pytestmark = pytest.mark.faults

HEALTHY = {"healthy-a": ["1.0", "1.1"], "healthy-b": ["2.0"]}
HEALTHY_ROWS = {(name, version) for name, versions in HEALTHY.items() for version in versions}
PAGE_BOMB = 49 * 1024 * 1024  # decompressed bytes of one bombed page: just within the 50 MB page limit
LISTING_BOMB = 640 * 1024 * 1024  # decompressed bytes of the bombed listing: past its 500 MB limit
TIMEOUT = 60.0


def assert_bounded(measured: Measured) -> None:
    print(f"\n{measured.peak_mb:.0f} MB peak RSS, {measured.seconds:.1f} s")  # the figures, with -s
    assert measured.killed is None, measured
    assert measured.peak_mb < MEMORY_LIMIT_MB, measured


def test_a_plain_run_stays_far_below_the_limit(job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve) -> None:
    """The control case: the job's own footprint (about 70 MB today) is under the limit."""
    index = serve(Index(dict(HEALTHY)).routes())
    config = scan_config(config_path, f"{index.url}/simple")

    measured = run_measured(job, config=config, database_url=kg.url, limit_mb=MEMORY_LIMIT_MB, timeout=TIMEOUT)

    assert_bounded(measured)
    assert measured.result is not None
    assert measured.result.code == 0, measured


@pytest.mark.parametrize("concurrency", [8, 16])
def test_32_gzip_bomb_pages_stay_under_the_memory_limit(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve, concurrency: int
) -> None:
    bombs = [f"bomb-{i:02d}" for i in range(32)]
    routes = Index({**HEALTHY, **{name: ["1.0"] for name in bombs}}).routes()
    for name in bombs:
        routes.set(f"/simple/{name}/", bomb_reply(PAGE_BOMB))
    index = serve(routes)
    config = scan_config(config_path, f"{index.url}/simple")

    measured = run_measured(
        job,
        "--concurrency",
        str(concurrency),
        config=config,
        database_url=kg.url,
        limit_mb=MEMORY_LIMIT_MB,
        timeout=TIMEOUT,
    )

    assert_bounded(measured)
    result = measured.result
    assert result is not None
    assert result.code == 0, result
    assert set(kg.rows(f"{index.url}/simple")) == HEALTHY_ROWS
    for name in bombs:
        (error,) = result.errors_for(name)
        assert "\n" not in error, error


def test_gzip_bombed_listing_stays_under_the_memory_limit(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve
) -> None:
    routes = Index({"victim": ["1.0"]}).routes()
    routes.set("/simple/", bomb_reply(LISTING_BOMB))
    bombed = serve(routes)
    healthy = serve(Index(dict(HEALTHY)).routes())
    document = {
        "indexes": [{"url": f"{url}/simple", "only_if_package_seen": False} for url in (bombed.url, healthy.url)]
    }
    config = write_yaml(config_path, document)

    measured = run_measured(job, config=config, database_url=kg.url, limit_mb=MEMORY_LIMIT_MB, timeout=TIMEOUT)

    assert_bounded(measured)
    result = measured.result
    assert result is not None
    assert result.code == 0, result
    assert result.index(f"{bombed.url}/simple")["error"], result
    assert set(kg.rows(f"{healthy.url}/simple")) == HEALTHY_ROWS


def test_page_with_a_million_versions_is_one_error_under_the_memory_limit(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve
) -> None:
    versions = [f"1.{i // 1000}.{i % 1000}" for i in range(1_000_000)]
    routes = Index({**HEALTHY, "huge": ["1.0"]}).routes()
    routes.set("/simple/huge/", ok(json_page("huge", versions, with_files=False), JSON_TYPE))
    index = serve(routes)
    config = scan_config(config_path, f"{index.url}/simple")

    # Refusing such a page takes seconds; parsing it whole takes minutes (killed at 30 s).
    measured = run_measured(job, config=config, database_url=kg.url, limit_mb=MEMORY_LIMIT_MB, timeout=30)

    assert_bounded(measured)
    result = measured.result
    assert result is not None
    assert result.code == 0, result
    assert len(result.errors_for("huge")) == 1, result
    assert set(kg.rows(f"{index.url}/simple")) == HEALTHY_ROWS


def test_page_with_600000_anchors_is_one_error_under_the_memory_limit(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve
) -> None:
    routes = Index({**HEALTHY, "anchors": ["1.0"]}).routes()
    routes.set("/simple/anchors/", ok(html_anchors("anchors", 600_000), HTML_TYPE))
    index = serve(routes)
    config = scan_config(config_path, f"{index.url}/simple")

    measured = run_measured(job, config=config, database_url=kg.url, limit_mb=MEMORY_LIMIT_MB, timeout=TIMEOUT)

    assert_bounded(measured)
    result = measured.result
    assert result is not None
    assert result.code == 0, result
    assert len(result.errors_for("anchors")) == 1, result
    assert set(kg.rows(f"{index.url}/simple")) == HEALTHY_ROWS
